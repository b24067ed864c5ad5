"""PyFlink jobs: metrics (raw -> processed), windowed bars, CEP alerts. Job logic is a function
from input Table to output Table; connector DDL lives only at the edge."""
