"""A decision's cost in one process against the bare Flask JSON view, in the same run (issue 18's first measure).

Both through Flask's test client, so neither network nor server is counted: the demo site's decision (SQLite at
synchronous=FULL, a durable commit each) against bench/floor.py's view that parses the same JSON and answers,
one of each in turn, so that a busy machine slows both alike; the medians of each.
`--profile` prints where the decisions' time goes (cProfile, cumulative).

    .venv/bin/python -m bench.in_process [--decisions 600] [--profile]
"""
import argparse
import cProfile
import pstats
import statistics
import tempfile

from bench import floor
from bench.common import bench_app, machine_note, prepare_database, print_table
from bench.stats import accept_all, decider, timed

HEADER = ["measure", "median per request", "ratio"]


def run(decisions=600, profile=False):
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/decisions.sqlite3"
        config = prepare_database(url)
        app = bench_app(url, CONSENT_REQUEST_LOG=False)
        bare = floor.app.test_client()
        body = accept_all(config)  # the body decide() posts
        decide = decider(app, config)

        def parse():
            assert bare.post("/json", json=body).status_code == 201

        timed(decide, 20)  # warm both
        timed(parse, 20)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        # Alternating, one of each at a time: a busy neighbour slows both alike, so their ratio holds.
        ours, bare_times = [], []
        for _ in range(decisions):
            ours.append(timed(decide, 1)[0] * 1000)  # µs
            bare_times.append(timed(parse, 1)[0] * 1000)
        if profiler:
            profiler.disable()
        ours_us, floor_us = statistics.median(ours), statistics.median(bare_times)
        # As the issue first measured it: all decisions, then all bare views. Each loop then runs hot in the
        # caches, the bare one most, so this ratio is the higher one; reported beside, not held to the target.
        blocks_us, blocks_floor_us = timed(decide, decisions)[0] * 1000, timed(parse, decisions)[0] * 1000
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    return [["decision, in process (SQLite, synchronous=FULL)", f"{ours_us:.0f} µs", f"{ours_us / floor_us:.1f}×"],
            ["bare Flask view parsing the same JSON", f"{floor_us:.0f} µs", "1.0×"],
            ["the same in two blocks, decisions then views", f"{blocks_us:.0f} / {blocks_floor_us:.0f} µs",
             f"{blocks_us / blocks_floor_us:.1f}×"]], ours_us / floor_us


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=600)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    note = machine_note()
    rows, _ratio = run(args.decisions, args.profile)
    print_table(f"A decision in process against the Flask floor ({note})", HEADER, rows)


if __name__ == "__main__":
    main()
