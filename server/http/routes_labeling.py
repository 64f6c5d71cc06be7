"""Routes of the labeling loop: next items, labels, leases, skips."""
from __future__ import annotations

from typing import Any

from knn_al.learner.strategies import STRATEGY_NAMES
from knn_al.server.http import shapes
from knn_al.server.http.api import Api, Call, Route
from knn_al.server.http.explain import explained
from knn_al.server.http.fields import Field

__all__ = ["ROUTES"]


async def next_items(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args

    def run() -> Any:
        samples = project.next_sample(args["count"], strategy=args["strategy"], annotator=args["annotator"],
                                      lease_seconds=args["lease_seconds"], include_outliers=args["include_outliers"],
                                      seed=args["seed"], preview=args["preview"], exponents=args["exponents"])
        replies = [shapes.sample(s, api.links(project)) for s in samples]
        if args["explain"] and samples:
            for reply, neighbors in zip(replies, explained(project, project.predict([s.id for s in samples]))):
                reply["neighbors"] = neighbors
        return {"samples": replies, "progress": shapes.plain(project.progress())}

    def give_back(reply: Any) -> None:
        """Nobody is left to receive these items (the client went away; with a request id
        the call is not cancelled, its reply waits for a retry): end the leases it took."""
        if reply["samples"]:
            project.release([s["id"] for s in reply["samples"]], force=True)

    # A preview leases nothing, so there is nothing to give back.
    return await api.run(run, project=project, undo=None if args["preview"] else give_back)


async def label(api: Api, call: Call) -> Any:
    project, labels = api.project(call.project), call.args["labels"]

    def run() -> Any:
        receipt = project.label(list(labels), list(labels.values()), annotator=call.args["annotator"])
        return {"labeled_count": receipt.labeled_count, "propagated_ids": receipt.propagated,
                "progress": shapes.plain(project.progress())}

    return await api.run(run, project=project)


async def remove_labels(api: Api, call: Call) -> Any:
    project = api.project(call.project)

    def run() -> Any:
        return {"labeled_count": project.unlabel(call.args["ids"]), "progress": shapes.plain(project.progress())}

    return await api.run(run, project=project)


async def undo_label(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args

    def run() -> Any:
        deadline = project.undo_label(args["id"], label=args["label"], annotator=args["annotator"],
                                      lease_seconds=args["lease_seconds"])
        progress = project.progress()
        return {"lease_expires_at": deadline, "labeled_count": progress.estimate.labeled,
                "progress": shapes.plain(progress)}

    return await api.run(run, project=project)


async def release(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args
    released = await api.run(project.release, args["ids"], annotator=args["annotator"], force=args["force"],
                             project=project)
    return {"released": released}


async def renew(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args
    deadline = await api.run(project.renew, args["ids"], annotator=args["annotator"],
                             lease_seconds=args["lease_seconds"], project=project)
    return {"lease_expires_at": deadline}


async def lease(api: Api, call: Call) -> Any:
    project, args = api.project(call.project), call.args
    deadline = await api.run(project.lease, args["ids"], annotator=args["annotator"],
                             lease_seconds=args["lease_seconds"], project=project)
    return {"lease_expires_at": deadline}


async def skip(api: Api, call: Call) -> Any:
    project = api.project(call.project)

    def run() -> Any:
        return {"skipped": project.skip(call.args["ids"], annotator=call.args["annotator"]),
                "progress": shapes.plain(project.progress())}

    return await api.run(run, project=project)


async def unskip(api: Api, call: Call) -> Any:
    project = api.project(call.project)
    return {"unskipped": await api.run(project.unskip, call.args["ids"], project=project)}


P = "/projects/{project}"
IDS = Field("ids", "strings", "item ids", required=True)
ANNOTATOR = Field("annotator", "string", "who asks (leases are theirs)", default="")
LEASE_SECONDS = Field("lease_seconds", "number", "lease length; default: the project's")
ROUTES = (
    Route("POST", f"{P}/next", "nextItems", "Pick items to label next and lease them to the annotator", next_items,
          reply="NextItems", once=True, large_reply=True,
          body=(Field("count", "integer", "how many (1-1000)", default=1), ANNOTATOR,
                Field("strategy", "string", "default: the project's", choices=tuple(STRATEGY_NAMES)),
                LEASE_SECONDS, Field("seed", "integer", "random seed of the pick (0 to 2**64 - 1)"),
                Field("include_outliers", "boolean", "outliers may be picked too", default=False),
                Field("exponents", "vector", "the combined strategy's exponents of uncertainty, density and "
                      "diversity; default: the project's"),
                Field("preview", "boolean", "the same picks in the same order, but nothing is leased",
                      default=False),
                Field("explain", "boolean", "list the labeled neighbours behind each prediction", default=False))),
    Route("POST", f"{P}/labels", "submitLabels", "Label (or relabel) items; ends their leases", label,
          reply="LabelReceipt", once=True,
          body=(Field("labels", "labels", "item id -> label", required=True),
                Field("annotator", "string", "who labeled", default=""))),
    Route("POST", f"{P}/labels/remove", "removeLabels", "Remove labels: the items are candidates again",
          remove_labels, reply="LabelCount", once=True, body=(IDS,)),
    Route("POST", f"{P}/labels/undo", "undoLabel",
          "Undo a label: remove it, if it is still the one given, and lease the item to the annotator, in one "
          "commit", undo_label, reply="UndoneLabel", once=True,
          body=(Field("id", "string", "the item", required=True),
                Field("label", "string", "the label being undone (refused if the item's label is another)",
                      required=True),
                Field("annotator", "string", "who gets the item back, leased", default=""), LEASE_SECONDS)),
    Route("POST", f"{P}/release", "releaseItems", "End the annotator's leases early", release, reply="Released",
          once=True, body=(IDS, ANNOTATOR, Field("force", "boolean", "release others' leases too", default=False))),
    Route("POST", f"{P}/renew", "renewLeases", "Extend the annotator's own leases", renew, reply="LeaseDeadline",
          once=True, body=(IDS, ANNOTATOR, LEASE_SECONDS)),
    Route("POST", f"{P}/lease", "leaseItems", "Lease chosen items to the annotator, within the label budget", lease,
          reply="LeaseDeadline", once=True, body=(IDS, ANNOTATOR, LEASE_SECONDS)),
    Route("POST", f"{P}/skip", "skipItems", "Skip items: not handed out again until unskipped", skip,
          reply="Skipped", once=True, body=(IDS, ANNOTATOR)),
    Route("POST", f"{P}/unskip", "unskipItems", "Make skipped items candidates again", unskip, reply="Unskipped",
          once=True, body=(IDS,)),
)
