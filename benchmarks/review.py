"""The review loop with many outputs: the gallery page, and the review server answering a decision.
Prints one table.

    python benchmarks/review.py              3,000 outputs, 300 decisions sent
    python benchmarks/review.py --quick      300 outputs, 50 decisions

The page: 3,000 image outputs of three prompt sets, a third of them with an earlier model version
beside them (a retrain), rendered as the review server serves it. Measured: the time to draw it
(cold: thumbnails made; warm: thumbnails cached), its size, how many images it shows and whether
any full-size file is loaded on page load (each <img> is a cached thumbnail with loading=lazy; the
full-size file is loaded only by the zoom).

A decision: POST /api/decision to the server served by uvicorn on 127.0.0.1 (a real socket, a real
HTTP client), the decisions file already holding one decision per output (the worst case: a file
rewritten whole at 3,000 entries). Two ways, measured in this run: the file read back and parsed
for every write with PyYAML's pure-Python loader and dumper (the naive way), and as shipped
(libyaml's C loader and dumper, the file parsed again only when it changed on disk).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
import yaml
from PIL import Image

from bria_pipeline.decisions import NO_DECISIONS
from bria_pipeline.reports.gallery import gallery_html, output_address
from bria_pipeline.reports.review_server import ReviewSite, listening_socket, review_app
from bria_pipeline.spec import decisions_file
from bria_pipeline.spec.decisions_file import DecisionsFile
from bria_pipeline.state.hashing import sha256_file
from bria_pipeline.state.manifest import Manifest
from bria_pipeline.state.records import OutputRecord


def build(root: Path, count: int) -> tuple[Manifest, Path]:
    """`count` outputs: three quarters current, one quarter earlier versions of the first current ones."""
    out = root / "outputs"
    sets = ("places", "portraits", "props")
    manifest = Manifest(out)
    current = count * 3 // 4
    for i in range(count):
        earlier = i >= current
        j = i - current if earlier else i  # an earlier version: the same prompt and seed as output j
        set_name = sets[j % 3]
        seed = j // 150
        name = f"{set_name}/scene-{j % 50}-seed{seed}" + (f".{i:08x}" if earlier else "")
        path = out / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 256), (i % 251, (i * 7) % 253, (i * 13) % 255)).save(path, compress_level=1)
        record = OutputRecord(key=f"{i:016x}", kind="image", name=name, set_name=set_name, model="lucy-lora",
                              status="done", file=f"{name}.png", sha256=sha256_file(path),
                              variables={"scene": j % 50, "variant": j // 50 % 3}, seed=seed, prompt=f"scene {j % 50}",
                              model_name="lucy-lora-0ld0ld00" if earlier else "lucy-lora-1a2b3c4d", retired=earlier,
                              completed=f"2026-12-0{1 if earlier else 2}T10:00:00+00:00", order=i)
        manifest.outputs[record.key] = record
    manifest.observe()
    return manifest, out


EARLIER_CARD = ' earlier" id='


def page_figures(manifest: Manifest, out: Path) -> list[tuple[str, str]]:
    rows = []
    for label in ("cold (thumbnails made)", "warm (thumbnails cached)"):
        started = time.perf_counter()
        html = gallery_html(out, manifest, title="bench", decisions=NO_DECISIONS,
                            review={"token": "t", "datasets": []}, prefix="/files/outputs/")
        rows.append((f"page drawn, {label}", f"{(time.perf_counter() - started) * 1000:,.0f} ms"))
    images = html.count("<img ")
    lazy = html.count('loading="lazy"')
    full = sum(1 for r in manifest if f'src="/files/outputs/{r.file}"' in html)
    rows += [
        ("page size", f"{len(html.encode()) / 1e6:.2f} MB"),
        ("images on the page / with loading=lazy", f"{images:,} / {lazy:,}"),
        ("full-size files loaded with the page", f"{full}"),
        ("earlier versions beside the current ones", f"{html.count(EARLIER_CARD):,}"),
    ]
    return rows


def _run_server(site: ReviewSite, sock: socket.socket) -> None:
    uvicorn.Server(uvicorn.Config(review_app(site), log_level="warning", access_log=False, lifespan="off")).run(sockets=[sock])


def serve(site: ReviewSite) -> tuple[str, multiprocessing.process.BaseProcess]:
    """The server in a process of its own, as `review serve` runs (the client here does not share its GIL)."""
    sock = listening_socket("127.0.0.1", 0)  # as `review serve` binds it
    port = sock.getsockname()[1]
    process = multiprocessing.get_context("fork").Process(target=_run_server, args=(site, sock), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/files/none", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return url, process


def decision_latency(manifest: Manifest, root: Path, n: int, naive: bool) -> list[float]:
    path = root / ("naive" if naive else "shipped") / "spec.decisions.yaml"
    path.parent.mkdir(exist_ok=True)
    outputs = [(r.key, output_address(r)) for r in manifest]
    seed_file = DecisionsFile(path)
    data = seed_file.data()
    data["outputs"] = {a: {"decision": "approve", "key": k} for k, a in outputs}
    decisions_file._write_raw(path, data)
    token = secrets.token_urlsafe(16)
    decisions = DecisionsFile(path)
    saved = (decisions_file._LOADER, decisions_file.render_decisions)
    if naive:  # parsed again before every write (pure-Python YAML), dumped whole by PyYAML
        decisions_file._LOADER = yaml.SafeLoader
        original = decisions._current_stamp
        decisions._current_stamp = lambda: (time.perf_counter_ns(), original())  # type: ignore[method-assign]
        decisions_file.render_decisions = lambda data, cache=None: decisions_file.HEADER + yaml.dump(  # type: ignore[assignment]
            data, Dumper=yaml.SafeDumper, sort_keys=True, allow_unicode=True)
    site = ReviewSite(spec_dir=root, decisions=decisions, token=token, page=lambda: "", outputs=lambda: outputs)
    url, process = serve(site)
    times = []
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(n):
                key, address = outputs[(i * 37) % len(outputs)]
                started = time.perf_counter()
                answer = http.post("/api/decision", json={"address": address, "key": key,
                                                          "decision": "reject" if i % 2 else "approve"},
                                   headers={"X-Review-Token": token})
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.join(timeout=10)
        decisions_file._LOADER, decisions_file.render_decisions = saved
    return times


def browser_figures(manifest: Manifest, root: Path, out: Path) -> list[tuple[str, str]]:
    """The served page in headless Chromium: load time, and which images it fetched before and
    after scrolling to the end (lazy loading: only thumbnails near the view; never a full-size file)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scenarios"))
    try:
        from cdp_browser import BROWSER, Browser
    except ImportError:
        return [("browser", "tests/scenarios/cdp_browser.py not found")]
    if BROWSER is None:
        return [("browser", "no Chromium: skipped")]
    token = secrets.token_urlsafe(16)
    page = gallery_html(out, manifest, title="bench", review={"token": token, "datasets": []}, prefix="/files/outputs/")
    site = ReviewSite(spec_dir=root, decisions=DecisionsFile(root / "spec.decisions.yaml"), token=token,
                      page=lambda: page, outputs=lambda: [])
    url, process = serve(site)
    browser = Browser(root / "profile")
    fetched = """performance.getEntriesByType('resource').filter(e => e.initiatorType === 'img')
                 .map(e => new URL(e.name).pathname)"""
    try:
        started = time.perf_counter()
        browser.open(url, timeout=120)
        loaded = time.perf_counter() - started
        first = browser.js(fetched)
        started = time.perf_counter()
        height = browser.js("document.documentElement.scrollHeight")
        for y in range(0, height, 4000):  # scroll through the whole page
            browser.js(f"window.scrollTo(0, {y})")
        scrolled = time.perf_counter() - started
        time.sleep(1)
        after = browser.js(fetched)
    finally:
        browser.close()
        process.terminate()
        process.join(timeout=10)
    full = [p for p in first + after if "/.thumbs/" not in p]
    return [
        ("browser: page loaded (served, 3,000 cards)" if len(manifest) >= 3000 else "browser: page loaded (served)",
         f"{loaded * 1000:,.0f} ms"),
        ("browser: thumbnails fetched on load / after scrolling to the end", f"{len(set(first)):,} / {len(set(after)):,}"),
        ("browser: scrolled through the page", f"{scrolled * 1000:,.0f} ms ({height:,} px)"),
        ("browser: full-size files fetched", f"{len(full)}"),
    ]


def fsync_floor(root: Path, size: int, n: int) -> float:
    """p50 of write_atomic of `size` bytes: what durability costs on this disk, whatever the format."""
    from bria_pipeline.atomic import write_atomic

    times = []
    for _ in range(n):
        started = time.perf_counter()
        write_atomic(root / "floor.bin", b"x" * size)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, sends = (300, 50) if args.quick else (3000, 300)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        manifest, out = build(root, count)
        rows = [("outputs (PNG files written for this run)", f"{count:,} in {time.perf_counter() - started:.1f} s")]
        rows += page_figures(manifest, out)
        rows += browser_figures(manifest, root, out)
        naive = decision_latency(manifest, root, max(20, sends // 5), naive=True)
        shipped = decision_latency(manifest, root, sends, naive=False)
        for label, times in (("naive: parse every write, pure-Python YAML", naive), ("shipped", shipped)):
            ordered = sorted(times)
            rows.append((f"decision answered, {label} (p50 / p95 / max, {len(times)} sent)",
                         f"{statistics.median(ordered):.1f} / {ordered[int(len(ordered) * .95) - 1]:.1f} / {ordered[-1]:.1f} ms"))
        rows.append(("naive p50 / shipped p50", f"{statistics.median(naive) / statistics.median(shipped):.1f}x"))
        floor = fsync_floor(root, len((root / "shipped" / "spec.decisions.yaml").read_bytes()), 20)
        rows.append(("of which the atomic write alone (temp, fsync, rename; p50)", f"{floor:.1f} ms"))
        ordered = sorted(shipped)
        p50, p95 = statistics.median(ordered), ordered[int(len(ordered) * .95) - 1]
        rows.append(("target: a decision under 50 ms (p50 / p95)",
                     f"{'met' if p50 < 50 else 'NOT met'} / {'met' if p95 < 50 else 'NOT met'}"))
        rows.append(("load average of this machine (1 min) / cores", f"{os.getloadavg()[0]:.1f} / {os.cpu_count()}"))
    width = max(len(a) for a, _ in rows)
    print(f"{'measure':<{width}}  value")
    for a, b in rows:
        print(f"{a:<{width}}  {b}")


if __name__ == "__main__":
    main()
