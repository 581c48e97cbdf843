int fake_nccl_placeholder(void) { return 0; }
