"""How the sinks turn a record's bytes into a value they store, or into a reject with its kind and
reason: the contract as the sinks apply it (contract.py, after schemas/conformance.py), one table of
the JSON Schema vocabulary (vocabulary.py), and four decoders generated from the topic schemas,
fastest first: Structs in C (structs.py), whole-batch columns (columns.py), and record by record
(records.py, with the generated fast check of fast_check.py in front of `nonconformity`).

The modules are imported by their names (sinks.decoding.columns, ...): this package imports nothing
itself, so sinks.postgres_rows can use the reject type without an import cycle."""
