#!/usr/bin/env python3
"""Host peer for panama-nccl's host-transport comparison: the same tensors, moved by torch.distributed gloo.

One sender (rank 0) and --receivers receivers, each its own process on this machine, gloo over loopback
(GLOO_SOCKET_IFNAME=lo). For every inventory file given (name<TAB>dtype<TAB>shape, as written by the Java
side of the comparison, so both sides move exactly the same tensors):
  perTensor  one dist.broadcast per tensor (what a naive weight sync does);
  flattened  SGLang's flattened bucket: the sender torch.cat's every tensor's uint8 view into one buffer,
             ONE broadcast of it, and each receiver takes views of the received buffer and copies them into
             its own tensors (load_weights); the receiver allocates the flat buffer on every sync, as SGLang does.
Gloo in torch 1.13 has no bfloat16, so bfloat16 tensors travel as float16 (the same bytes); 1-byte types
travel as uint8.

A sync is timed on rank 0 from a barrier before it to a barrier after it (every receiver has the whole model).
Each method gets one warm-up (perTensor: its first --warmup-tensors tensors), then up to --repeat timed syncs,
fewer when the estimate would overrun this method's share of --time-budget (at least one). Receivers zero
their tensors before each method and are checked against the sender's CRC32 after it.

Results are JMH-shaped JSON (an array of {"benchmark", "params", "primaryMetric": {"score", "scoreUnit",
"rawData"}, "secondaryMetrics"}), benchmark names torch.gloo.GlooSync.perTensor / .flattened, params
tensors, modelMiB and receivers like the Java benchmarks', so the chart renderer reads them like its own.
scoreError is half the range of the timed syncs ("NaN" with one), not JMH's confidence interval.
"""
import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from torch_peer import DTYPE_BYTES, InventoryError, parse_inventory  # noqa: E402  (one inventory parser)

BENCHMARK = "torch.gloo.GlooSync"
METHODS = ("perTensor", "flattened")
# How each inventory dtype travels through gloo (torch 1.13): same element size, a type gloo supports.
GLOO_DTYPES = {"bfloat16": "float16", "bool": "uint8", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8",
               "float8_e4m3fnuz": "uint8", "float8_e5m2fnuz": "uint8", "int16": "float16", "uint16": "float16",
               "uint32": "int32", "uint64": "int64"}
WORKER_TIMEOUT_SLACK_S = 30


def gloo_dtype_name(dtype):
    return GLOO_DTYPES.get(dtype, dtype)


def repetitions(estimate_s, share_s, repeat):
    """Timed syncs that fit in share_s when each takes estimate_s: at least 1, at most repeat."""
    if estimate_s <= 0:
        return repeat
    return max(1, min(repeat, int(share_s / estimate_s)))


def score(samples_s, params, method, extra):
    """One JMH-shaped result entry, times in milliseconds."""
    ms = [s * 1e3 for s in samples_s]
    entry = {
        "benchmark": f"{BENCHMARK}.{method}",
        "mode": "avgt",
        "threads": 1,
        "forks": 1,
        "warmupIterations": 1,
        "measurementIterations": len(ms),
        "params": {key: str(value) for key, value in params.items()},
        "primaryMetric": {
            "score": statistics.fmean(ms),
            "scoreError": (max(ms) - min(ms)) / 2 if len(ms) > 1 else "NaN",
            "scoreUnit": "ms/op",
            "rawData": [ms],
        },
        "secondaryMetrics": {},
    }
    entry.update(extra)
    return entry


def worker(rank, world, store_path, inventories, args, results):
    """One rank: joins the gloo group, runs every method on every inventory, reports to `results` (rank 0, 1)."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.FileStore(store_path, world), rank=rank, world_size=world)
    report = {"rank": rank, "cases": []}
    deadline = time.monotonic() + args.time_budget
    for case_index, (path, tensors_spec) in enumerate(inventories):
        tensors = []
        for _, dtype, shape in tensors_spec:
            tensor = torch.empty(shape, dtype=getattr(torch, gloo_dtype_name(dtype)))
            flat = tensor.view(-1).view(torch.uint8)
            if rank == 0:
                flat.random_(0, 256)
            else:
                flat.zero_()
            tensors.append(tensor)
        flats = [tensor.view(-1).view(torch.uint8) for tensor in tensors]
        sizes = [flat.numel() for flat in flats]
        total = sum(sizes)

        def crc():
            value = 0
            for flat in flats:
                value = zlib.crc32(flat.numpy(), value)
            return value

        def per_tensor(count=len(tensors)):
            for tensor in tensors[:count]:
                dist.broadcast(tensor, src=0)

        phases = {"flatten": [], "broadcast": [], "load": []}

        def flattened():
            t0 = time.monotonic()
            if rank == 0:
                bucket = torch.cat(flats)
            else:
                bucket = torch.empty(total, dtype=torch.uint8)
            t1 = time.monotonic()
            dist.broadcast(bucket, src=0)
            t2 = time.monotonic()
            if rank != 0:
                for destination, view in zip(flats, torch.split(bucket, sizes)):
                    destination.copy_(view)  # load_weights: param.data.copy_(received view)
            t3 = time.monotonic()
            phases["flatten"].append(t1 - t0)
            phases["broadcast"].append(t2 - t1)
            phases["load"].append(t3 - t2)

        expected = crc() if rank == 0 else 0
        case = {"inventory": str(path), "tensors": len(tensors), "bytes": total, "methods": {}}
        for method_index, method in enumerate(METHODS):
            if rank != 0:
                for flat in flats:
                    flat.zero_()
            dist.barrier()
            t0 = time.monotonic()
            warmed = len(tensors)
            if method == "perTensor":
                warmed = min(len(tensors), args.warmup_tensors)
                per_tensor(warmed)
            else:
                flattened()
            dist.barrier()
            estimate = (time.monotonic() - t0) * len(tensors) / warmed
            for values in phases.values():
                values.clear()
            methods_left = (len(inventories) - case_index) * len(METHODS) - method_index
            share = max(0.0, deadline - time.monotonic()) / methods_left
            # Every rank must make the same number of broadcasts: rank 0 decides and tells the others.
            decided = torch.tensor([repetitions(estimate, share, args.repeat)], dtype=torch.int64)
            dist.broadcast(decided, src=0)
            samples = []
            for _ in range(int(decided.item())):
                dist.barrier()
                t0 = time.monotonic()
                if method == "perTensor":
                    per_tensor()
                else:
                    flattened()
                dist.barrier()
                samples.append(time.monotonic() - t0)
            sent = torch.tensor([expected], dtype=torch.int64)
            dist.broadcast(sent, src=0)
            mismatched = torch.tensor([int(rank != 0 and crc() != sent.item())], dtype=torch.int64)
            dist.all_reduce(mismatched)  # receivers whose bytes differ from the sender's
            case["methods"][method] = {
                "samples_s": samples,
                "warmup_estimate_s": estimate,
                "receivers_mismatched": int(mismatched.item()),
                "phases_s": {name: statistics.median(values) for name, values in phases.items() if values},
            }
        report["cases"].append(case)
        del tensors, flats
    dist.destroy_process_group()
    if rank <= 1:
        results.put(report)


def merge(reports, params_of, torch_version):
    """JMH-shaped entries from the sender's report (times) and the first receiver's (phases it alone sees)."""
    sender = next(r for r in reports if r["rank"] == 0)
    receiver = next((r for r in reports if r["rank"] == 1), None)
    entries = []
    for index, case in enumerate(sender["cases"]):
        for method, measured in case["methods"].items():
            extra = {"torchVersion": torch_version, "backend": "gloo", "bytes": case["bytes"],
                     "verified": measured["receivers_mismatched"] == 0,
                     "dtypeNote": "bfloat16 tensors sent as float16 (same bytes): gloo has no bfloat16"}
            entry = score(measured["samples_s"], params_of(case), method, extra)
            phases = dict(measured["phases_s"])
            if receiver is not None:
                phases["load"] = receiver["cases"][index]["methods"][method]["phases_s"].get("load")
            entry["secondaryMetrics"] = {name: {"score": value * 1e3, "scoreUnit": "ms/op"}
                                         for name, value in phases.items() if value is not None}
            entries.append(entry)
    return entries


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, action="append", required=True,
                        help="tensor inventory (.tsv); repeat for several models, run in the order given")
    parser.add_argument("--receivers", type=int, default=1)
    parser.add_argument("--model-mib", type=int, required=True, help="the modelMiB parameter to report")
    parser.add_argument("--repeat", type=int, default=3, help="timed syncs per method (after the warm-up)")
    parser.add_argument("--warmup-tensors", type=int, default=1000,
                        help="tensors broadcast one by one as the per-tensor warm-up")
    parser.add_argument("--time-budget", type=float, default=120.0,
                        help="seconds for all inventories and methods; repetitions are cut to fit")
    parser.add_argument("--out", type=Path, required=True, help="write the JMH-shaped JSON here")
    parser.add_argument("--dry-run", action="store_true", help="parse the inventories and print the plan; no torch")
    args = parser.parse_args(argv)
    if args.receivers < 1 or args.repeat < 1 or args.warmup_tensors < 1:
        parser.error("--receivers, --repeat and --warmup-tensors must be >= 1")
    try:
        inventories = [(path, parse_inventory(path)) for path in args.inventory]
    except (InventoryError, OSError) as error:
        print(f"gloo_peer: {error}", file=sys.stderr)
        return 2
    unsupported = sorted({d for _, spec in inventories for _, d, _ in spec if gloo_dtype_name(d) not in DTYPE_BYTES})
    if unsupported:
        print(f"gloo_peer: no gloo type for dtypes {unsupported}", file=sys.stderr)
        return 2

    def params_of(case):
        return {"modelMiB": args.model_mib, "receivers": args.receivers, "tensors": case["tensors"]}

    if args.dry_run:
        plan = [{"inventory": str(path), "params": params_of({"tensors": len(spec)})} for path, spec in inventories]
        print(json.dumps(plan, indent=2))
        return 0

    import torch
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    world = 1 + args.receivers
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    with tempfile.TemporaryDirectory(prefix="gloo-peer-") as store_dir:
        store = os.path.join(store_dir, "store")
        ranks = [context.Process(target=worker, args=(rank, world, store, inventories, args, results), daemon=True)
                 for rank in range(world)]
        for process in ranks:
            process.start()
        reports = []
        try:
            for _ in range(min(2, world)):
                reports.append(results.get(timeout=args.time_budget + WORKER_TIMEOUT_SLACK_S * len(inventories)))
        except Exception as error:  # queue.Empty on timeout, or a rank that died
            print(f"gloo_peer: the ranks did not finish in time or failed ({type(error).__name__}); "
                  f"exit codes {[p.exitcode for p in ranks]}", file=sys.stderr)
            for process in ranks:
                process.kill()
            return 1
        for process in ranks:
            process.join(WORKER_TIMEOUT_SLACK_S)
            if process.is_alive():
                process.kill()
    entries = merge(reports, params_of, torch.__version__)
    args.out.write_text(json.dumps(entries, indent=2) + "\n")
    failed = [e["benchmark"] + str(e["params"]) for e in entries if not e["verified"]]
    for entry in entries:
        print(f"{entry['benchmark']} {entry['params']}: {entry['primaryMetric']['score']:.1f} ms "
              f"({entry['measurementIterations']} syncs)" + ("" if entry["verified"] else " NOT VERIFIED"))
    if failed:
        print(f"gloo_peer: receivers' bytes differ from the sender's after {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
