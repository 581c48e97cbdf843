int fake_cudart_placeholder(void) { return 0; }
