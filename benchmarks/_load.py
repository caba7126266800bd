"""HTTP load generator for ``bench_serve.py``, run as its own lean process.

    python benchmarks/_load.py URL BODY_JSON_FILE --requests 300 --warmup 30 --concurrency 8

Only the standard library is imported: a client living in the benchmark's process (with
MLflow, scikit-learn and a trained model on its heap) pauses for its own garbage
collections, and those pauses showed up as the *server's* p99. Each thread keeps one
``http.client`` connection alive. Prints one JSON object: ``p50_ms``, ``p99_ms``, ``rps``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HEADERS = {"Content-Type": "application/json"}


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", path, body, HEADERS)
    response = conn.getresponse()
    return response.status, response.read()


def run(url: str, body: bytes, requests: int, warmup: int, concurrency: int) -> dict[str, float]:
    """p50/p99 latency (ms) and throughput (req/s) of ``requests`` POSTs over ``concurrency`` threads."""
    parts = urlsplit(url)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def worker(count: int) -> None:
        mine: list[float] = []
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for _ in range(-(-warmup // concurrency)):
            post(conn, parts.path, body)
        barrier.wait()
        for _ in range(count):
            began = time.perf_counter()
            status, answer = post(conn, parts.path, body)
            mine.append(time.perf_counter() - began)
            if status != 200:
                errors.append(f"{status} {answer[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in share]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        sys.exit(f"error: {len(errors)} failed requests to {url}, first: {errors[0]}")
    latencies.sort()

    def pct(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, math.ceil(q * len(latencies)) - 1)], 2)

    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "rps": round(len(latencies) / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body", type=Path, help="A file holding the JSON body to post.")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    body = args.body.read_bytes()
    json.loads(body)  # a bad body is the benchmark's bug: fail before any request
    print(json.dumps(run(args.url, body, args.requests, args.warmup, args.concurrency)))


if __name__ == "__main__":
    main()
