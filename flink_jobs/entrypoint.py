"""The script `flink run -py` executes: reads the JobSpec JSON from --spec and submits the job
to the cluster the Flink client points at. Kept tiny: everything else is importable and tested."""

from __future__ import annotations

import argparse
import sys

from flink_jobs.pipelines import JobSpec, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run one order book monitor Flink job")
    parser.add_argument("--spec", required=True, help="JobSpec as JSON")
    args = parser.parse_args(argv)
    result = run(JobSpec.from_json(args.spec))
    client = result.get_job_client()
    if client is not None:
        print(f"obm job id: {client.get_job_id()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
