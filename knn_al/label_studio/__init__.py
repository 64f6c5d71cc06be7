"""Label Studio bridge: knn-al as the ML backend of a Label Studio project (issue 14).

The pure core: :mod:`.config` (the labeling config), :mod:`.mapping` (tasks as items,
annotations as labels), :mod:`.events` (webhook payloads), :mod:`.predictions` (scores that
carry knn-al's pick order). Over it: :mod:`.rest` (calls back into Label Studio),
:mod:`.pool` (tasks into the pool), :mod:`.bridge` (the work behind each request) and
:mod:`.backend` (the HTTP app; ``knn-al label-studio`` runs it). It talks to knn-al only
through ``knn_al.client``.

The protocol, as read (not guessed) from the sources:

* HumanSignal/label-studio-ml-backend ``label_studio_ml/api.py`` at commit
  d02cedf35d0e5d21f2f437c120174c62f66bf57a (the ML backend's Flask app), and
* HumanSignal/label-studio ``label_studio/ml/api_connector.py`` (``MLApi``, what Label Studio
  sends) and ``label_studio/ml/models.py`` (how it reads the answers), ``docs/source/guide/
  webhook_reference.md`` (webhook payloads), ``projects/functions/next_task.py`` (sampling).

``GET /health`` (also ``GET /``) -> ``{"status": "UP", "model_class": "<name>"}``; Label Studio
only checks that it answers 2xx with JSON.

``POST /setup`` <- ``{"project": "<id>.<int(created_at.timestamp())>", "schema": "<label config
XML>", "hostname": "http://localhost:8080", "access_token": "<project creator's token>",
"extra_params": {...}?}`` -> ``{"model_version": "<str>"}``. A non-2xx answer puts the backend
in the ERROR state with ``{"error": ...}`` as its message. Label Studio stores the returned
model_version and stamps every prediction it saves with it.

``POST /predict`` <- ``{"tasks": [{"id": 1, "data": {"text": "..."}, ...}], "model_version":
"<str>", "project": "<id>.<timestamp>", "label_config": "<XML>", "params": {"login": null,
"password": null, "context": null}}`` -> ``{"results": [{"result": [{"from_name": "sentiment",
"to_name": "text", "type": "choices", "value": {"choices": ["Positive"]}}], "score": 0.9,
"model_version": "<str>"}]}``: one entry per task, in the tasks' order. Label Studio treats a
single entry for several tasks as "no batch support" and asks again task by task; any other
count mismatch is logged as an error.

``POST /webhook`` <- ``{"action": "ANNOTATION_CREATED" | "ANNOTATION_UPDATED", "annotation":
{"id": 17, "task": 19, "result": [...], "was_cancelled": false, "ground_truth": false,
"completed_by": 1, "updated_at": "..."}, "task": {...}?, "project": {"id": 2, "label_config":
"<XML>", ...}}``; deletions come as ``{"action": "ANNOTATIONS_DELETED", "annotations": [{"id":
17}], "project": {...}}`` (the ML backend also lists a singular ``ANNOTATION_DELETED``);
``START_TRAINING`` is the "train" button. The ML backend answers 201 ``{"result": ...,
"status": "ok"}``, and 200 ``{"status": "Unknown event"}`` to other actions.

Sampling: Label Studio's uncertainty sampling hands out the unlabeled task with the
**lowest** prediction score of the current model version first (``order_by('predictions__score')``),
so the bridge gives knn-al's next pick the lowest score (see :mod:`knn_al.label_studio.predictions`).

Webhooks the bridge also follows (Label Studio registers the ML backend's webhook with
``send_for_all_actions``, so every event of the project arrives): ``TASKS_CREATED`` with
``tasks`` (whole tasks, ``data`` included; imports, storage syncs) and ``TASKS_DELETED``
with ``tasks: [{"id": ..}]``.

Calling back (:mod:`knn_al.label_studio.rest`, with the ``hostname`` and ``access_token`` of
``/setup``, or the bridge's own ``--label-studio-url``, checked at start with ``GET
/api/current-user/whoami``): ``GET /api/tasks?project=ID&page=..&page_size=..`` and ``GET
/api/tasks/{id}`` (the pool sync; a task is removed only on a 404), ``GET
/api/predictions?project=ID``, ``PATCH`` and ``DELETE /api/predictions/{id}`` and ``POST
/api/projects/{id}/import/predictions`` (pushes; stored without calling the backend), and
the image tasks' files: uploads are
``/data/upload/{project}/{file}`` and local-files storage ``{HOST}/data/local-files/?d=..``
(both need the token). The bridge's ``Bridge`` docstring says when and how much.
"""
