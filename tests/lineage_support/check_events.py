"""Builds the official OpenLineage client's own RunEvent objects from every event in the JSON
Lines files given, with its validators (UUID run ids, ISO event times, event types, facet
shapes), and checks that the client serialises each back to the event as sent: the same
fields, the same schema URLs. Prints one JSON summary line.

Usage: python check_events.py EVENTS.jsonl...
"""

import json
import sys
from collections import Counter

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
)
from openlineage.client.serde import Serde

TRACING_ETL_SCHEMA = sys.argv[1]


@attr.define
class TracingEtlRunFacet(RunFacet):
    """The run facet of tracing-etl, as a custom facet is declared for this client."""

    kind: str
    runId: str  # noqa: N815
    attempt: int
    lastAttempt: bool  # noqa: N815
    status: str
    correlationId: str | None = attr.field(default=None)  # noqa: N815
    processRunId: str | None = attr.field(default=None)  # noqa: N815
    stepRunId: str | None = attr.field(default=None)  # noqa: N815
    traceId: str | None = attr.field(default=None)  # noqa: N815
    spanId: str | None = attr.field(default=None)  # noqa: N815
    durationMs: int | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return TRACING_ETL_SCHEMA


def fields(facet):
    """A facet's own fields, and its producer, as constructor arguments."""
    args = {k: v for k, v in facet.items() if not k.startswith("_")}
    args["producer"] = facet["_producer"]
    return args


def parent(facet):
    root = facet.get("root")
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=facet["run"]["runId"]),
        job=parent_run.Job(**facet["job"]),
        root=None
        if root is None
        else parent_run.Root(
            run=parent_run.RootRun(runId=root["run"]["runId"]),
            job=parent_run.RootJob(**root["job"]),
        ),
        producer=facet["_producer"],
    )


RUN_FACETS = {
    "parent": parent,
    "errorMessage": lambda f: error_message_run.ErrorMessageRunFacet(**fields(f)),
    "processing_engine": lambda f: processing_engine_run.ProcessingEngineRunFacet(**fields(f)),
    "tracing_etl": lambda f: TracingEtlRunFacet(**fields(f)),
}
JOB_FACETS = {"jobType": lambda f: job_type_job.JobTypeJobFacet(**fields(f))}
INPUT_FACETS = {
    "inputStatistics": lambda f: input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
        **fields(f)
    )
}
OUTPUT_FACETS = {
    "outputStatistics": lambda f: output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        **fields(f)
    )
}


def facets(given, known, where):
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"unknown {where} facets {sorted(unknown)}")
    return {name: known[name](facet) for name, facet in given.items()}


def build(event):
    return RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=facets(event["run"].get("facets", {}), RUN_FACETS, "run")),
        job=Job(
            namespace=event["job"]["namespace"],
            name=event["job"]["name"],
            facets=facets(event["job"].get("facets", {}), JOB_FACETS, "job"),
        ),
        inputs=[
            InputDataset(
                namespace=d["namespace"],
                name=d["name"],
                inputFacets=facets(d.get("inputFacets", {}), INPUT_FACETS, "input"),
            )
            for d in event.get("inputs", [])
        ],
        outputs=[
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                outputFacets=facets(d.get("outputFacets", {}), OUTPUT_FACETS, "output"),
            )
            for d in event.get("outputs", [])
        ],
        producer=event["producer"],
    )


def normal(value):
    """Without empty objects and nulls, which the client leaves out or adds."""
    if isinstance(value, dict):
        kept = {k: normal(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def main():
    types = Counter()
    runs = set()
    checked = 0
    datasets = 0
    row_counts = 0
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                event = json.loads(line)
                built = build(event)
                again = Serde.to_dict(built)
                if normal(again) != normal(event):
                    raise SystemExit(
                        f"{path}:{number}: the client's event differs from ours:\n"
                        f"ours:   {json.dumps(normal(event), sort_keys=True)}\n"
                        f"client: {json.dumps(normal(again), sort_keys=True)}"
                    )
                types[built.eventType.value] += 1
                runs.add(built.run.runId)
                datasets += len(built.inputs) + len(built.outputs)
                row_counts += sum(
                    1 for d in built.outputs if "outputStatistics" in (d.outputFacets or {})
                )
                checked += 1
    print(
        json.dumps(
            {
                "checked": checked,
                "runs": len(runs),
                "types": dict(types),
                "datasets": datasets,
                "output_row_counts": row_counts,
            },
            sort_keys=True,
        )
    )


main()
