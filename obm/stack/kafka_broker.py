"""An Apache Kafka 4.x broker in KRaft single-node combined mode, run from the Maven Central jars
that bootstrap fetched into .cache/jars/kafka. Data lives under the state folder and survives a
restart; the storage is formatted once."""

from __future__ import annotations

import base64
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from config import KafkaSettings, StackSettings
from config.clients import client_config
from obm.stack.health import StartupFailed, port_open, wait_until
from obm.stack.process import ManagedProcess
from schemas.topics import ALL_TOPICS, topic_name

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaBroker:
    settings: KafkaSettings
    stack: StackSettings
    heap: str = "-Xmx768m"

    @property
    def home(self) -> Path:
        return self.stack.state_dir / "kafka"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    def _java(self) -> list[str]:
        jars = self.stack.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise StartupFailed(f"Kafka jars missing in {jars}: run scripts/bootstrap.sh")
        java = shutil.which("java") or "java"
        return [
            java,
            self.heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{jars}/*",
        ]

    def process(self) -> ManagedProcess:
        return ManagedProcess(
            name="kafka",
            argv=[*self._java(), "kafka.Kafka", str(self.properties_file)],
            run_dir=self.stack.state_dir,
        )

    def _write_config(self) -> None:
        s = self.settings
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(_LOG4J2)
        host = s.host
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{host}:{s.controller_port}",
            "listeners": f"PLAINTEXT://{host}:{s.port},CONTROLLER://{host}:{s.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{s.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": str(s.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            # The Flink jobs' exactly-once sinks write in transactions (flink_jobs/connectors.py).
            "transaction.max.timeout.ms": str(s.transaction_max_timeout_ms),
            # ... under a new transactional id per sink and checkpoint (the connector's default naming):
            # forget a finished one after an hour instead of 7 days, which at 2 s checkpoints would
            # be ~1.8M ids of the three jobs held in the broker's memory. An open transaction never
            # expires this way (its own timeout ends it).
            "transactional.id.expiration.ms": "3600000",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "24",
        }
        self.properties_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def _format_once(self) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        import subprocess

        out = subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                # `=` form: a random id may start with "-", which argparse would take for an option.
                f"--cluster-id={_cluster_id()}",
                "-c",
                str(self.properties_file),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise StartupFailed(f"kafka storage format failed:\n{out.stdout}\n{out.stderr}")

    def start(self) -> None:
        proc = self.process()
        if proc.running() and self.healthy():
            return
        self._write_config()
        self._format_once()
        proc.start()
        wait_until(
            "kafka",
            self.healthy,
            timeout_s=self.stack.start_timeout_s,
            alive=proc.running,
            log_tail=proc.log_tail,
        )

    def healthy(self) -> bool:
        if not port_open(self.settings.host, self.settings.port):
            return False
        admin = AdminClient(client_config(self.settings))
        md = admin.list_topics(timeout=2)
        return bool(md.brokers)

    def stop(self) -> None:
        self.process().stop(timeout_s=30)

    def ensure_topics(self, names: list[str] | None = None) -> list[str]:
        """Create the project's topics (or `names`) if absent, with the same partitions, retention
        and cleanup policy as Compose's topic-init (obm.operator.topic_policy); returns those created."""
        from obm.operator.topics_command import create_topics

        s = self.settings
        wanted = names or [topic_name(t, s.topic_prefix) for t in ALL_TOPICS]
        return [name for name, state in create_topics(s, wanted, None, {}).items() if state == "created"]
