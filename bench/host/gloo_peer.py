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

A sync is timed on rank 0 from a barrier before it to a barrier after it (every receiver has the whole model);
its CPU time is the sum over all ranks' processes (secondary metric task-clock, CPU ms per sync, as JMH's perfnorm
profiler names it for the Java side).
The flattened syncs of every inventory run first, then the per-tensor ones. Each gets one warm-up (perTensor: its
first --warmup-tensors tensors), then up to --repeat timed syncs, fewer when the estimate would overrun its share
of what is left of --time-budget: at least one, none (skipped, and said so) when even one would overrun all that
is left. Receivers zero their tensors before each method and are checked against the sender's CRC32 after it.
The output file is rewritten after every measurement, so a run stopped from outside keeps what it measured.

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
# How each inventory dtype travels through gloo (torch 1.13): same element size, a type gloo supports.
GLOO_DTYPES = {"bfloat16": "float16", "bool": "uint8", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8",
               "float8_e4m3fnuz": "uint8", "float8_e5m2fnuz": "uint8", "int16": "float16", "uint16": "float16",
               "uint32": "int32", "uint64": "int64"}
# Start-up (torch import, allocation of every inventory) and the warm-ups, beyond --time-budget.
WORKER_TIMEOUT_SLACK_S = 45


def gloo_dtype_name(dtype):
    return GLOO_DTYPES.get(dtype, dtype)


def repetitions(estimate_s, share_s, left_s, repeat):
    """Timed syncs that fit in share_s when each takes estimate_s: at most repeat, at least 1 unless even one
    would overrun the whole time left (then 0: the method is skipped)."""
    if estimate_s > left_s:
        return 0
    if estimate_s <= 0:
        return repeat
    return max(1, min(repeat, int(share_s / estimate_s)))


def schedule(case_count):
    """(case, method) in the order measured: every flattened sync first (cheap, and what the targets name), then
    per-tensor by case, so a budget that runs out loses the most expensive per-tensor points only."""
    return [(case, method) for method in ("flattened", "perTensor") for case in range(case_count)]


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


class Case:
    """One inventory's tensors on one rank: the sender's random bytes, a receiver's zeros."""

    def __init__(self, torch, rank, path, spec):
        self.torch, self.rank, self.path = torch, rank, path
        self.tensors = []
        for _, dtype, shape in spec:
            tensor = torch.empty(shape, dtype=getattr(torch, gloo_dtype_name(dtype)))
            flat = tensor.view(-1).view(torch.uint8)
            if rank == 0:
                flat.random_(0, 256)
            else:
                flat.zero_()
            self.tensors.append(tensor)
        self.flats = [tensor.view(-1).view(torch.uint8) for tensor in self.tensors]
        self.sizes = [flat.numel() for flat in self.flats]
        self.bytes = sum(self.sizes)
        self.phases = {"flatten": [], "broadcast": [], "load": []}

    def crc(self):
        value = 0
        for flat in self.flats:
            value = zlib.crc32(flat.numpy(), value)
        return value

    def clear(self):
        if self.rank != 0:
            for flat in self.flats:
                flat.zero_()
        for values in self.phases.values():
            values.clear()

    def per_tensor(self, dist, count=None):
        for tensor in self.tensors[:count]:
            dist.broadcast(tensor, src=0)

    def flattened(self, dist):
        torch = self.torch
        t0 = time.monotonic()
        bucket = torch.cat(self.flats) if self.rank == 0 else torch.empty(self.bytes, dtype=torch.uint8)
        t1 = time.monotonic()
        dist.broadcast(bucket, src=0)
        t2 = time.monotonic()
        if self.rank != 0:
            for destination, view in zip(self.flats, torch.split(bucket, self.sizes)):
                destination.copy_(view)  # load_weights: param.data.copy_(received view)
        t3 = time.monotonic()
        self.phases["flatten"].append(t1 - t0)
        self.phases["broadcast"].append(t2 - t1)
        self.phases["load"].append(t3 - t2)


def worker(rank, world, store_path, inventories, args, results):
    """One rank: joins the gloo group and measures every (inventory, method) of the schedule; ranks 0 and 1 put
    each result on `results` as soon as it is measured, then None."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.FileStore(store_path, world), rank=rank, world_size=world)
    deadline = time.monotonic() + args.time_budget
    cases = [Case(torch, rank, path, spec) for path, spec in inventories]
    expected = [case.crc() if rank == 0 else 0 for case in cases]
    plan = schedule(len(cases))
    for index, (case_index, method) in enumerate(plan):
        case = cases[case_index]
        case.clear()
        started = torch.tensor([int(time.monotonic() < deadline)], dtype=torch.int64)
        dist.broadcast(started, src=0)  # no time left: every rank skips the rest, warm-ups included
        if not started.item():
            if rank <= 1:
                results.put({"rank": rank, "case": case_index, "tensors": len(case.tensors), "method": method,
                             "samples_s": []})
            continue
        dist.barrier()
        t0 = time.monotonic()
        warmed = len(case.tensors)
        if method == "perTensor":
            warmed = min(warmed, args.warmup_tensors)
            case.per_tensor(dist, warmed)
        else:
            case.flattened(dist)
        dist.barrier()
        estimate = (time.monotonic() - t0) * len(case.tensors) / warmed
        for values in case.phases.values():
            values.clear()
        left = max(0.0, deadline - time.monotonic())
        # Every rank must make the same number of broadcasts: rank 0 decides and tells the others.
        decided = torch.tensor([repetitions(estimate, left / (len(plan) - index), left, args.repeat)], dtype=torch.int64)
        dist.broadcast(decided, src=0)
        samples, cpu = [], []
        for _ in range(int(decided.item())):
            dist.barrier()
            t0, c0 = time.monotonic(), time.process_time()
            if method == "perTensor":
                case.per_tensor(dist)
            else:
                case.flattened(dist)
            dist.barrier()
            samples.append(time.monotonic() - t0)
            used = torch.tensor([time.process_time() - c0], dtype=torch.float64)
            dist.all_reduce(used)  # CPU seconds of every rank's process, all its threads
            cpu.append(used.item())
        sent = torch.tensor([expected[case_index]], dtype=torch.int64)
        dist.broadcast(sent, src=0)
        mismatched = torch.tensor([int(rank != 0 and bool(samples) and case.crc() != sent.item())], dtype=torch.int64)
        dist.all_reduce(mismatched)  # receivers whose bytes differ from the sender's
        if rank <= 1:
            results.put({"rank": rank, "case": case_index, "tensors": len(case.tensors), "bytes": case.bytes,
                         "method": method, "samples_s": samples, "cpu_s": cpu, "warmup_estimate_s": estimate,
                         "receivers_mismatched": int(mismatched.item()),
                         "phases_s": {name: statistics.median(v) for name, v in case.phases.items() if v}})
    dist.destroy_process_group()
    if rank <= 1:
        results.put(None)


def entry(sender, receiver, params_of, torch_version):
    """The JMH-shaped entry of one measured (inventory, method): times from the sender, the load phase (which only
    receivers see) from the first receiver."""
    extra = {"torchVersion": torch_version, "backend": "gloo", "bytes": sender["bytes"],
             "verified": sender["receivers_mismatched"] == 0,
             "dtypeNote": "bfloat16 tensors sent as float16 (same bytes): gloo has no bfloat16"}
    result = score(sender["samples_s"], params_of(sender), sender["method"], extra)
    phases = dict(sender["phases_s"])
    if receiver is not None and "load" in receiver["phases_s"]:
        phases["load"] = receiver["phases_s"]["load"]
    result["secondaryMetrics"] = {name: {"score": value * 1e3, "scoreUnit": "ms/op"} for name, value in phases.items()}
    # Named and scaled like JMH's perfnorm task-clock (CPU milliseconds per operation), so both read alike.
    result["secondaryMetrics"]["task-clock"] = {"score": statistics.fmean(sender["cpu_s"]) * 1e3, "scoreUnit": "#/op"}
    return result


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
        measured, receiver_phases, finished, skipped = {}, {}, 0, []

        def write():
            entries = [entry(measured[k], receiver_phases.get(k), params_of, torch.__version__) for k in sorted(measured)]
            args.out.write_text(json.dumps(entries, indent=2) + "\n")
            return entries

        deadline = time.monotonic() + args.time_budget + WORKER_TIMEOUT_SLACK_S
        try:
            while finished < min(2, world):
                report = results.get(timeout=max(1.0, deadline - time.monotonic()))
                if report is None:
                    finished += 1
                    continue
                key = (report["case"], report["method"])
                if report["rank"] == 1:
                    receiver_phases[key] = report
                    continue
                if not report["samples_s"]:
                    skipped.append(f"{report['method']} at {report['tensors']} tensors")
                    continue
                measured[key] = report
                write()  # after every measurement: a run stopped by its time box keeps what it measured
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
        entries = write()
    if skipped:
        print(f"gloo_peer: skipped for lack of time (--time-budget {args.time_budget:.0f} s): {', '.join(skipped)}")
    failed = [e["benchmark"] + str(e["params"]) for e in entries if not e["verified"]]
    for result in entries:
        print(f"{result['benchmark']} {result['params']}: {result['primaryMetric']['score']:.1f} ms "
              f"({result['measurementIterations']} syncs)" + ("" if result["verified"] else " NOT VERIFIED"))
    if failed:
        print(f"gloo_peer: receivers' bytes differ from the sender's after {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
