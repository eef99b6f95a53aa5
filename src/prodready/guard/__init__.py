"""What a team adds to a prototype model to make it production-grade.

- :class:`InputSchema`: what the model may be given, learned from the reference data
  (columns, dtypes, ranges, category sets, where values may be missing);
- :class:`Guard`: the model behind that schema. An invalid request is rejected with a clear
  error naming row, column and rule (:class:`InputRejected`; HTTP 400 through a server), or
  its invalid rows are answered with a declared safe default, marked as such. Every answered
  row gets a decision id and a line in a hash-chained decision log (``docs/decision-log.md``);
- :func:`input_digest`: the digest of one row's features that the log records, the same
  whether computed by the client from what it sent or by the server from what it parsed;
- :func:`save_mlflow`: the guarded model as an MLflow pyfunc directory, so that
  ``mlflow models serve`` (or any MLflow-compatible server) serves it.

Example::

    schema = InputSchema.learn(reference, features, categorical)
    guard = Guard(model, schema, decision_log="decisions.jsonl", model_version="1.4.0",
                  model_sha256=sha256_of_model_file)
    answer = guard.decide(frame)    # answer.outputs, answer.decision_ids, answer.safe_default
"""

from __future__ import annotations

from prodready.guard._digest import canonical_value, input_digest, input_digests
from prodready.guard._guard import Decisions, Guard, InputRejected, OnInvalid
from prodready.guard._log import LOG_FORMAT, LOG_ID_FIELD, read_decisions
from prodready.guard._mlflow import (
    DECISION_LOG_ENV,
    RegistryAlias,
    decisions_frame,
    save_mlflow,
)
from prodready.guard._schema import (
    DEFAULT_TOLERANCE,
    RULES,
    SCHEMA_VERSION,
    ColumnRule,
    InputSchema,
    Rule,
    Violation,
)

__all__ = [
    "DECISION_LOG_ENV",
    "DEFAULT_TOLERANCE",
    "LOG_FORMAT",
    "LOG_ID_FIELD",
    "RULES",
    "SCHEMA_VERSION",
    "ColumnRule",
    "Decisions",
    "Guard",
    "InputRejected",
    "InputSchema",
    "OnInvalid",
    "RegistryAlias",
    "Rule",
    "Violation",
    "canonical_value",
    "decisions_frame",
    "input_digest",
    "input_digests",
    "read_decisions",
    "save_mlflow",
]
