"""Cold image checks of real-sized photos, side by side with `sha256sum` over the same files.

    python benchmarks/image_checks.py                  120 JPEGs of 3000x2000 (about 2.8 MB each)
    python benchmarks/image_checks.py --count 40       fewer files
    python benchmarks/image_checks.py --workdir DIR    keep (and reuse) the photos in DIR
    python benchmarks/image_checks.py --before DIR     add a row for the checkout in DIR (e.g. a
                                                       `git worktree` of an earlier commit)

The photos are made on the spot: a gradient, a tint and noise, saved at JPEG quality 90, so
their entropy-coded data is as dense as a camera's (2-3 MB for 6 megapixels). Every file is read
once before timing, so all rows read from the page cache. Each row runs in a child process and
is the best of --repeat runs (wall time; CPU time is the children's user + system time):

    sha256sum            coreutils over every file (the reference)
    validate (cold)      `bria-pipeline validate` of a spec listing every photo, with an empty
                         file-facts cache: start-up, YAML, schema, and every image hashed and
                         checked; the ratio to sha256sum is the target (<= 1.3)
    inspect (cold)       bria_pipeline.spec.image_facts.inspect_images alone
    full decode          the check before: hash + verify + decode at full size, same thread pool
    draft decode         hash + decode at 1/8 scale (Pillow's draft mode), same thread pool
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SPEC = """\
version: 1
project:
  name: image-checks
  ip_type: stylized_scene
  ip_medium: photography
datasets:
  photos:
    images:
      - path: photos/*.jpg
    visual_schema:
      samples: [{samples}]
"""


def make_photos(directory: Path, count: int, width: int, height: int) -> list[Path]:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    gradient = Image.linear_gradient("L").resize((width, height))
    paths = []
    for i in range(count):
        path = directory / f"photo-{i:03d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        rnd = random.Random(i)
        noise = Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))
        tint = Image.new("RGB", (width, height), tuple(rnd.randrange(256) for _ in range(3)))
        base = Image.blend(gradient.rotate(90 * rnd.randrange(4)).convert("RGB"), tint, 0.4)
        Image.blend(base, noise, 0.25).save(path, "JPEG", quality=90)
    return paths


def timed(cmd: list[str], repeat: int, env: dict[str, str] | None = None, fresh_dir: Path | None = None,
          cwd: Path | None = None) -> tuple[float, float]:
    """Best wall time of `repeat` runs of `cmd` and the CPU time of that run (run in `cwd`, so that
    `python -m` imports bria_pipeline from PYTHONPATH, not from the current directory)."""
    best = (float("inf"), 0.0)
    for n in range(repeat):
        if fresh_dir is not None:
            shutil.rmtree(fresh_dir, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
                                cwd=cwd)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{result.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, (wall, cpu))
    return best


# -------------------------------------------------------------------- child: one way of checking


def _full_decode(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        img.load()


def _draft_decode(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (img.width // 8, img.height // 8))
        img.load()


def child(mode: str, directory: Path) -> None:
    paths = sorted(directory.glob("photo-*.jpg"))
    if mode == "inspect":
        from bria_pipeline.spec.image_facts import inspect_images

        facts, _ = inspect_images(paths, None)
        bad = [p for p, f in facts.items() if f.problem]
        if bad:
            raise SystemExit(f"unexpected problems: {bad[:3]}")
        return
    from bria_pipeline.spec.image_facts import default_workers

    check = {"full": _full_decode, "draft": _draft_decode}[mode]
    with ThreadPoolExecutor(max_workers=min(default_workers(), len(paths))) as pool:
        list(pool.map(check, paths))


# ------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--before", type=Path, help="another checkout of bria-pipeline to compare with")
    parser.add_argument("--child", choices=["inspect", "full", "draft"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workdir / "photos")
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bria-image-checks-"))
    started = time.perf_counter()
    photos = make_photos(work / "photos", args.count, args.width, args.height)
    total = sum(p.stat().st_size for p in photos)
    print(f"{len(photos)} photos of {args.width}x{args.height}, {total / 1e6:.0f} MB "
          f"({total / len(photos) / 1e6:.2f} MB each), made in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for p in photos:  # into the page cache, for every row alike
        p.read_bytes()
    spec = work / "spec.yaml"
    spec.write_text(SPEC.format(samples=", ".join(f"photos/{p.name}" for p in photos[:5])), encoding="utf-8")

    def env_for(root: Path) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))

    env = env_for(Path(__file__).resolve().parents[1])
    me = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(work), "--child"]
    cache = work / "empty-cache"
    rows = [
        ("sha256sum", timed(["sha256sum", *map(str, photos)], args.repeat, cwd=work)),
        ("validate (cold)", timed([sys.executable, "-m", "bria_pipeline", "validate", str(spec), "--cache-dir", str(cache)],
                                  args.repeat, env, fresh_dir=cache, cwd=work)),
        ("inspect (cold)", timed([*me, "inspect"], args.repeat, env, cwd=work)),
        ("full decode (before)", timed([*me, "full"], args.repeat, env, cwd=work)),
        ("draft decode, 1/8 scale", timed([*me, "draft"], args.repeat, env, cwd=work)),
    ]
    if args.before:
        rows.insert(2, (f"validate (cold), {args.before}",
                        timed([sys.executable, "-m", "bria_pipeline", "validate", str(spec), "--cache-dir", str(cache)],
                              args.repeat, env_for(args.before.resolve()), fresh_dir=cache, cwd=work)))
    base_wall, base_cpu = rows[0][1]
    print(f"\n{len(photos)} JPEG photos, {args.width}x{args.height}, {total / 1e6:.0f} MB; best of {args.repeat}; "
          f"{os.cpu_count()} cores\n")
    print("| check | wall | CPU | wall / sha256sum | CPU / sha256sum | target |")
    print("|---|---|---|---|---|---|")
    for name, (wall, cpu) in rows:
        target = "<= 1.3" if name == "validate (cold)" else ""
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} | {target} |")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
