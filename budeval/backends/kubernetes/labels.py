"""Names, labels and annotations of a run's Kubernetes objects.

Every object budeval creates carries the same labels, so one selector
(`app.kubernetes.io/managed-by=budeval`) finds them all and `budeval.io/job` ties a Secret, a
ConfigMap and PVCs to their run. Label values have a strict alphabet and 63 characters; ids that do
not fit are replaced by a derived value with a hash, and the original ids travel in annotations.
Pure: no I/O, no client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from budeval.backends.base import RunSpec
from budeval.ids import dns1123_name

LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_EVAL_ID = "budeval.io/eval-id"
LABEL_RUN_ID = "budeval.io/run-id"
LABEL_JOB = "budeval.io/job"
LABEL_JOB_NAME = "job-name"
"""Set by the Job controller on its Pods: selects the Pods of one Job."""

ANNOTATION_EVAL_ID = "budeval.io/eval-id"
ANNOTATION_RUN_ID = "budeval.io/run-id"
ANNOTATION_DATASET = "budeval.io/dataset"
ANNOTATION_ENGINE = "budeval.io/engine"
ANNOTATION_FILES = "budeval.io/files"
"""On the run's ConfigMap: JSON {"file-0": "<path relative to /data>", …}."""

APP = "budeval"
COMPONENT_RUN = "run"
COMPONENT_READER = "results-reader"
MANAGED_SELECTOR = {LABEL_MANAGED_BY: APP}

LABEL_VALUE_MAX = 63
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def is_label_value(text: str) -> bool:
    return len(text) <= LABEL_VALUE_MAX and bool(_LABEL_VALUE.fullmatch(text))


def is_label_key(key: str) -> bool:
    """A qualified name: `[<DNS-1123 subdomain ≤ 253>/]<name ≤ 63>`."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return False
    return bool(_LABEL_NAME.fullmatch(name))


def label_value(text: str) -> str:
    """`text` itself when it is a valid label value, else a stable derived one with a hash."""
    return text if is_label_value(text) else dns1123_name(text)


def run_labels(spec: RunSpec, component: str = COMPONENT_RUN) -> dict[str, str]:
    """The labels of every object of the run (and of its Pods).

    The spec's own labels come first (invalid keys dropped, values made label-safe); budeval's
    labels always win.
    """
    labels = {key: label_value(value) for key, value in spec.labels.items() if is_label_key(key)}
    labels.update(
        {
            LABEL_NAME: APP,
            LABEL_MANAGED_BY: APP,
            LABEL_COMPONENT: component,
            LABEL_EVAL_ID: label_value(spec.eval_id),
            LABEL_RUN_ID: label_value(spec.run_id),
            LABEL_JOB: label_value(spec.name),
        }
    )
    return labels


def run_annotations(spec: RunSpec) -> dict[str, str]:
    """The original ids, which labels may only carry in a derived form."""
    return {
        ANNOTATION_EVAL_ID: spec.eval_id,
        ANNOTATION_RUN_ID: spec.run_id,
        ANNOTATION_DATASET: spec.dataset,
        ANNOTATION_ENGINE: spec.engine,
    }


def selector(labels: dict[str, str]) -> str:
    """A label selector string (`a=b,c=d`) for list and watch requests."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


@dataclass(frozen=True)
class ObjectNames:
    """The names of one run's objects, all derived from its Job name."""

    job: str
    secret: str
    config: str
    data_pvc: str
    output_pvc: str
    reader_job: str


def object_names(job: str) -> ObjectNames:
    return ObjectNames(
        job=job,
        secret=f"{job}-secret",
        config=f"{job}-config",
        data_pvc=f"{job}-data-pvc",
        output_pvc=f"{job}-output-pvc",
        reader_job=dns1123_name(job, prefix="read-"),
    )
