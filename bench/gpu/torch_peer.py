#!/usr/bin/env python3
"""PyTorch peer for panama-nccl's GPU benchmarks: the same tensor inventory, moved by torch.distributed.

On one GPU, in a world of size 1 (NCCL backend), for every tensor of a model inventory
(cli/src/main/resources/io/github/panamanccl/cli/inventories/<name>.tsv), scaled down so that it fits:
  per_tensor_broadcast  one dist.broadcast per tensor (what a naive weight sync does);
  flat_uint8_broadcast  the SGLang-style bucket: torch.cat of every tensor's uint8 view, ONE
                        broadcast, then split + view(dtype).reshape back into tensors;
  d2d_copy              one device-to-device copy of the same total bytes (the baseline).
Each method is timed on the host clock between torch.cuda.synchronize() calls: one warm-up,
then --repeat timed repetitions (fewer when --time-budget would be exceeded).
A world of size 1 makes the broadcast itself nearly free, so the numbers are the per-call
overhead (per tensor) and the packing cost (bucket) that panama-nccl's Java path competes with.

--dry-run parses and scales the inventory and prints the plan without importing torch;
--device cpu runs the same code on the CPU with the gloo backend (tests this script without a GPU).
"""
import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCE_DIR = REPO_ROOT / "cli/src/main/resources/io/github/panamanccl/cli/inventories"

# Element sizes of the torch dtype names an inventory may use.
DTYPE_BYTES = {
    "bool": 1, "uint8": 1, "int8": 1, "float8_e4m3fn": 1, "float8_e5m2": 1,
    "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1,
    "int16": 2, "uint16": 2, "float16": 2, "bfloat16": 2,
    "int32": 4, "uint32": 4, "float32": 4,
    "int64": 8, "uint64": 8, "float64": 8,
}
HEADER = ["name", "dtype", "shape"]
GIB = 1 << 30


class InventoryError(ValueError):
    pass


def parse_size(text):
    """'16GiB', '512MiB', '1e9' or a plain byte count -> int bytes."""
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
             "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12}
    lowered = text.strip().lower()
    for unit, factor in units.items():
        if lowered.endswith(unit):
            number = float(lowered[: -len(unit)])
            break
    else:
        number, factor = float(lowered), 1
    value = int(number * factor)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return value


def resolve_inventory(name_or_path):
    """A path as given, else <name>.tsv in the repository's resources."""
    given = Path(name_or_path)
    if given.suffix == ".tsv" or given.exists():
        if given.is_file():
            return given
        raise InventoryError(f"inventory file not found: {given}")
    candidate = RESOURCE_DIR / f"{name_or_path}.tsv"
    if candidate.is_file():
        return candidate
    raise InventoryError(f"inventory {name_or_path!r} not found in {RESOURCE_DIR}")


def parse_inventory(path):
    """Returns [(name, dtype, shape tuple)]; every malformed line is reported with its number."""
    tensors, header_seen, names = [], False, set()
    with open(path, encoding="utf-8") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if not header_seen:
                if fields != HEADER:
                    raise InventoryError(
                        f"{path}:{number}: header must be name<TAB>dtype<TAB>shape, got {line!r}")
                header_seen = True
                continue
            if len(fields) != 3:
                raise InventoryError(f"{path}:{number}: expected 3 tab-separated fields, got {len(fields)}")
            name, dtype, shape_text = fields
            if not name:
                raise InventoryError(f"{path}:{number}: empty name")
            if name in names:
                raise InventoryError(f"{path}:{number}: duplicate name {name!r}")
            if dtype not in DTYPE_BYTES:
                raise InventoryError(f"{path}:{number}: unknown dtype {dtype!r} for {name}")
            try:
                shape = tuple(int(dim) for dim in shape_text.split(",")) if shape_text else ()
            except ValueError:
                raise InventoryError(f"{path}:{number}: shape {shape_text!r} of {name} is not comma-separated integers")
            if any(dim <= 0 for dim in shape):
                raise InventoryError(f"{path}:{number}: shape {shape_text!r} of {name} has a dimension <= 0")
            names.add(name)
            tensors.append((name, dtype, shape))
    if not header_seen:
        raise InventoryError(f"{path}: no header line name<TAB>dtype<TAB>shape")
    if not tensors:
        raise InventoryError(f"{path}: no tensors")
    return tensors


def tensor_bytes(dtype, shape):
    return math.prod(shape) * DTYPE_BYTES[dtype]


def total_bytes(tensors):
    return sum(tensor_bytes(dtype, shape) for _, dtype, shape in tensors)


def shrink(shape, factor):
    """Divides the first largest dimension by factor (rounding down, at least 1); keeps the rest."""
    if not shape or factor <= 1:
        return shape
    largest = max(range(len(shape)), key=lambda i: shape[i])
    scaled = list(shape)
    divided = shape[largest] // factor if float(factor).is_integer() else int(shape[largest] / factor)
    scaled[largest] = max(1, int(divided))
    return tuple(scaled)


def scale_inventory(tensors, max_bytes=None, factor=None):
    """Keeps every tensor and shrinks each one's largest dimension by one common factor.

    With max_bytes the factor is the smallest whole number that brings the total under it, found
    by the same bisection as panama-nccl's Inventory.scaledToFit, so that both sides of a
    comparison move the same tensors and bytes. Returns (scaled tensors, factor used).
    """
    def scaled_by(f):
        return [(n, d, shrink(s, f)) for n, d, s in tensors]

    if factor is not None:
        if factor < 1:
            raise InventoryError(f"scale factor must be >= 1, got {factor}")
        return scaled_by(factor), float(factor)
    original = total_bytes(tensors)
    if max_bytes is None or original <= max_bytes:
        return list(tensors), 1.0
    # At the largest dimension of all, every largest dimension is 1: the smallest total there is.
    high = max([max(s) for _, _, s in tensors if s] + [1])
    if total_bytes(scaled_by(high)) > max_bytes:
        raise InventoryError(f"cannot fit {len(tensors)} tensors in {max_bytes} bytes: "
                             f"with every largest dimension at 1 they need {total_bytes(scaled_by(high))}")
    low = 1  # does not fit (the original does not)
    while high - low > 1:
        middle = (low + high) // 2
        if total_bytes(scaled_by(middle)) <= max_bytes:
            high = middle
        else:
            low = middle
    return scaled_by(high), float(high)


def plan(tensors, scaled, factor, path):
    sizes = [tensor_bytes(d, s) for _, d, s in scaled]
    dtypes = {}
    for _, dtype, _ in scaled:
        dtypes[dtype] = dtypes.get(dtype, 0) + 1
    return {
        "inventory": path.stem,
        "inventory_path": str(path),
        "tensors": len(scaled),
        "original_bytes": total_bytes(tensors),
        "bytes": sum(sizes),
        "scale_factor": round(factor, 4),
        "dtypes": dtypes,
        "largest_tensor_bytes": max(sizes),
        "smallest_tensor_bytes": min(sizes),
        "median_tensor_bytes": int(statistics.median(sizes)),
    }


def gbps(nbytes, seconds):
    return round(nbytes / seconds / 1e9, 3) if seconds > 0 else None


def summarize(samples, nbytes, tensors):
    median = statistics.median(samples)
    return {
        "seconds_median": round(median, 6),
        "seconds_min": round(min(samples), 6),
        "seconds_all": [round(s, 6) for s in samples],
        "gb_per_s": gbps(nbytes, median),
        "us_per_tensor": round(median / tensors * 1e6, 3),
    }


def run(scaled, summary, repeat, time_budget, checkpoint, device_type):
    import torch
    import torch.distributed as dist

    started = time.monotonic()
    summary["torch_version"] = torch.__version__
    if device_type == "cuda":
        device = torch.device("cuda", 0)
        torch.cuda.set_device(device)
        synchronize, backend = torch.cuda.synchronize, "nccl"
        summary.update({
            "torch_cuda": torch.version.cuda,
            "torch_nccl_version": ".".join(str(p) for p in torch.cuda.nccl.version()),
            "device_name": torch.cuda.get_device_name(device),
        })
    else:
        device, backend = torch.device("cpu"), "gloo"
        def synchronize():
            pass
        summary["device_name"] = "cpu"
    summary["backend"] = backend

    dtypes = {name: getattr(torch, name) for name in {d for _, d, _ in scaled}}
    tensors = []
    for _, dtype, shape in scaled:
        tensor = torch.empty(shape, dtype=dtypes[dtype], device=device)
        tensor.reshape(-1).view(torch.uint8).random_()  # every byte pattern; never time on zeros
        tensors.append(tensor)
    nbytes = summary["bytes"]
    # Bucket layout: each tensor starts at a multiple of its element size, so view(dtype) is legal.
    offsets, position = [], 0
    for tensor in tensors:
        position = -(-position // tensor.element_size()) * tensor.element_size()
        offsets.append(position)
        position += tensor.numel() * tensor.element_size()
    bucket_bytes = position
    synchronize()
    summary["allocate_and_fill_s"] = round(time.monotonic() - started, 3)

    store_dir = tempfile.mkdtemp(prefix="torch-peer-store-")
    store = dist.FileStore(os.path.join(store_dir, "store"), 1)
    dist.init_process_group(backend, store=store, rank=0, world_size=1)

    # gloo (the CPU test of this script) has no bfloat16: it moves those tensors' bytes as float16 views.
    wire = [t.view(torch.float16) if backend == "gloo" and t.dtype == torch.bfloat16 else t for t in tensors]

    def per_tensor_broadcast():
        for tensor in wire:
            dist.broadcast(tensor, src=0)

    def pack():
        pieces, previous_end = [], 0
        for tensor, offset in zip(tensors, offsets):
            if offset > previous_end:
                pieces.append(torch.zeros(offset - previous_end, dtype=torch.uint8, device=device))
            pieces.append(tensor.reshape(-1).view(torch.uint8))
            previous_end = offset + tensor.numel() * tensor.element_size()
        return torch.cat(pieces)

    def unpack(flat):
        return [flat[offset: offset + t.numel() * t.element_size()].view(t.dtype).reshape(t.shape)
                for t, offset in zip(tensors, offsets)]

    phases = {"pack": [], "broadcast": [], "unpack": []}

    def flat_broadcast():
        t0 = time.monotonic()
        flat = pack()
        synchronize()
        t1 = time.monotonic()
        dist.broadcast(flat, src=0)
        synchronize()
        t2 = time.monotonic()
        views = unpack(flat)
        synchronize()
        t3 = time.monotonic()
        phases["pack"].append(t1 - t0)
        phases["broadcast"].append(t2 - t1)
        phases["unpack"].append(t3 - t2)
        return views

    copy_source = torch.empty(bucket_bytes, dtype=torch.uint8, device=device).random_()
    copy_target = torch.empty_like(copy_source)

    def d2d_copy():
        copy_target.copy_(copy_source)

    methods = summary["methods"] = {}
    remaining_methods = 3
    for label, action in (("per_tensor_broadcast", per_tensor_broadcast),
                          ("flat_uint8_broadcast", flat_broadcast),
                          ("d2d_copy", d2d_copy)):
        synchronize()
        t0 = time.monotonic()
        action()  # warm-up (the first broadcast also creates the NCCL communicator)
        synchronize()
        warmup = time.monotonic() - t0
        for values in phases.values():
            values.clear()
        left = time_budget - (time.monotonic() - started)
        share = left / remaining_methods
        repetitions = max(1, min(repeat, int(share / max(warmup, 1e-6))))
        samples = []
        for _ in range(repetitions):
            synchronize()
            t0 = time.monotonic()
            action()
            synchronize()
            samples.append(time.monotonic() - t0)
        result = summarize(samples, nbytes, len(tensors))
        result["warmup_s"] = round(warmup, 6)
        result["repetitions"] = repetitions
        if label == "flat_uint8_broadcast":
            result["bucket_bytes"] = bucket_bytes
            result["phases_median_s"] = {k: round(statistics.median(v), 6) for k, v in phases.items()}
        if label == "d2d_copy":
            result["bytes_read_plus_written_gb_per_s"] = gbps(2 * bucket_bytes, statistics.median(samples))
        methods[label] = result
        remaining_methods -= 1
        checkpoint()  # a run killed by its time box still leaves the methods measured so far

    # The reconstructed views must be byte-identical to the tensors they came from.
    views = unpack(pack())
    mismatched = [name for (name, _, _), original, view in zip(scaled, tensors, views)
                  if not torch.equal(original.reshape(-1).view(torch.uint8), view.reshape(-1).view(torch.uint8))
                  or view.shape != original.shape or view.dtype != original.dtype]
    summary["reconstruction_verified"] = not mismatched
    summary["reconstruction_mismatches"] = mismatched[:10]
    dist.destroy_process_group()
    shutil.rmtree(store_dir, ignore_errors=True)
    summary["total_s"] = round(time.monotonic() - started, 3)
    return not mismatched


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True,
                        help="inventory name (e.g. qwen3-30b-a3b) or path to a .tsv file")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--max-bytes", type=parse_size, default=None,
                      help="shrink tensors until the total fits (e.g. 16GiB); default 16GiB")
    size.add_argument("--scale", type=float, default=None,
                      help="divide every tensor's largest dimension by this factor instead")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions per method (after 1 warm-up)")
    parser.add_argument("--time-budget", type=float, default=60.0,
                        help="seconds for the whole measurement; repetitions are cut to fit")
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (NCCL backend) or cpu (gloo backend, to test this script)")
    parser.add_argument("--dry-run", action="store_true",
                        help="parse and scale the inventory, print the plan; no torch, no GPU")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.max_bytes is None and args.scale is None:
        args.max_bytes = 16 * GIB

    try:
        path = resolve_inventory(args.inventory)
        tensors = parse_inventory(path)
        scaled, factor = scale_inventory(tensors, max_bytes=args.max_bytes, factor=args.scale)
    except (InventoryError, OSError) as error:
        print(f"torch_peer: {error}", file=sys.stderr)
        return 2
    summary = plan(tensors, scaled, factor, path)
    summary["dry_run"] = args.dry_run

    def checkpoint():
        if args.out:
            args.out.write_text(json.dumps(summary, indent=2) + "\n")

    ok = True
    if not args.dry_run:
        summary["repeat"] = args.repeat
        ok = run(scaled, summary, args.repeat, args.time_budget, checkpoint, args.device)
    checkpoint()
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
