"""The script `flink run -py` executes: reads the JobSpec JSON from --spec and submits the job
to the cluster the Flink client points at. Kept tiny: everything else is importable and tested.

`--job NAME` instead builds the spec from the settings in the environment (OBM_FLINK_…, OBM_KAFKA_…):
how a FlinkDeployment of the Kubernetes operator starts a job (deploy/kubernetes/flink/), where
the job's pod gets its settings from a ConfigMap and Secrets, not from a submitting client."""

from __future__ import annotations

import argparse
import sys

from flink_jobs.pipelines import JobSpec, run


def spec_from_environment(job: str) -> JobSpec:
    from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings

    flink = FlinkSettings()
    return JobSpec(
        job=job, flink=flink, kafka=KafkaSettings(), metrics=MetricsJobSettings(), alerts=AlertSettings(),
        parallelism=flink.parallelism_of(job),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run one order book monitor Flink job")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--spec", help="JobSpec as JSON")
    given.add_argument("--job", help="a job of the registry, its settings from the environment")
    args = parser.parse_args(argv)
    result = run(JobSpec.from_json(args.spec) if args.spec else spec_from_environment(args.job))
    client = result.get_job_client()
    if client is not None:
        print(f"obm job id: {client.get_job_id()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
