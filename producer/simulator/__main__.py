"""`python -m producer.simulator`: the Binance-speaking simulator (see cli.simulate)."""

from producer.cli import simulate

if __name__ == "__main__":
    simulate(prog_name="python -m producer.simulator")
