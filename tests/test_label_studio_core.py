"""The Label Studio bridge's pure core: labeling configs, task and annotation mapping,
webhook payloads and the score that carries knn-al's pick order. No Label Studio needed.

Configs are Label Studio's own templates (Text Classification, Image Classification) and the
configs of its webhook reference; payloads follow ``docs/source/guide/webhook_reference.md``.
"""
from __future__ import annotations

import random

import pytest

from knn_al.errors import InvalidInputError, UnknownLabelError
from knn_al.label_studio.config import LabelingConfig, UnsupportedConfigError, parse_config
from knn_al.label_studio.events import Annotated, Deleted, TasksChanged, TrainingRequested, parse_webhook
from knn_al.label_studio.mapping import (item_id, item_metadata, label_from_result, project_id, project_name,
                                         task_id)
from knn_al.label_studio.predictions import UNRANKED_SCORE, build_prediction, pick_scores
from knn_al.projects.settings import NAME_PATTERN

TEXT = """<View>
  <Text name="text" value="$text"/>
  <View style="box-shadow: 2px 2px 5px #999; padding: 20px; margin-top: 2em; border-radius: 5px;">
    <Header value="Choose text sentiment"/>
    <Choices name="sentiment" toName="text" choice="single" showInLine="true">
      <Choice value="Positive"/>
      <Choice value="Negative"/>
      <Choice value="Neutral"/>
    </Choices>
  </View>
</View>"""
# Label Studio keeps example data in a comment after the root element.
IMAGE = """<View>
  <Image name="image" value="$image"/>
  <Choices name="choice" toName="image" choice="multiple">
    <Choice value="Adult content"/>
    <Choice value="Weapons" />
    <Choice value="Violence" />
  </Choices>
</View><!-- {"data": {"image": "https://example.org/a.jpg"}} -->"""
NER = """<View> <Header value="Please read the passage"/> <Text name="text" value="$ner" granularity="word"/>
<Labels name="answer" toName="text"> <Label value="Answer" maxUsage="1" background="red"/> </Labels>
</View>"""
RECTANGLES = """<View> <Image name="image" value="$image"/> <RectangleLabels name="label" toName="image">
<Label value="Airplane" background="green"/> <Label value="Car" background="blue"/> </RectangleLabels> </View>"""
TWO_CHOICES = """<View><Text name="text" value="$text"/>
<Choices name="topic" toName="text"><Choice value="Sport"/><Choice value="Tech"/></Choices>
<Choices name="tone" toName="text"><Choice value="Calm"/><Choice value="Angry"/></Choices></View>"""
NO_TO_NAME = """<View><Text name="text" value="$text"/>
<Choices name="topic"><Choice value="Sport"/><Choice value="Tech"/></Choices></View>"""


def config() -> LabelingConfig:
    return parse_config(TEXT)


# ------------------------------------------------------------------ configs
def test_a_text_classification_config_reads_as_its_choices_over_its_text() -> None:
    assert config() == LabelingConfig(kind="text", from_name="sentiment", to_name="text", data_key="text",
                                      labels=("Positive", "Negative", "Neutral"), choice="single")
    assert config().encoder == "use-multilingual"


def test_an_image_classification_config_with_its_example_comment_reads_as_images() -> None:
    parsed = parse_config(IMAGE)
    assert (parsed.kind, parsed.from_name, parsed.to_name, parsed.data_key) == ("image", "choice", "image", "image")
    assert parsed.labels == ("Adult content", "Weapons", "Violence")
    assert parsed.choice == "multiple"
    assert parsed.encoder == "mobilenet_v1"


def test_a_choice_alias_is_the_label_because_results_carry_the_alias() -> None:
    parsed = parse_config('<View><Text name="t" value="$body"/><Choices name="c" toName="t">'
                          '<Choice value="Sports news" alias="sport"/><Choice value="Tech"/></Choices></View>')
    assert parsed.labels == ("sport", "Tech")
    assert parsed.data_key == "body"


@pytest.mark.parametrize(("xml", "found"), [
    (NER, "<Labels>"),
    (RECTANGLES, "<RectangleLabels>"),
    (TWO_CHOICES, "2 control tags (<Choices name='topic'>, <Choices name='tone'>)"),
    (NO_TO_NAME, "<Choices name='topic'> without toName"),
    ('<View><HyperText name="h" value="$html"/><Choices name="c" toName="h"><Choice value="A"/></Choices></View>',
     "<Choices> over <HyperText name='h'>"),
    ('<View><Text name="t" value="Read this"/><Choices name="c" toName="t"><Choice value="A"/></Choices></View>',
     "the value must be $key"),
    ('<View><Text name="t" value="$x"/><Choices name="c" toName="t" value="$options"/></View>',
     "from the task data ($options)"),
    ('<View><Text name="t" value="$x"/><Choices name="c" toName="t" perRegion="true">'
     '<Choice value="A"/></Choices></View>', "perRegion"),
    ('<View><Text name="t" value="$x"/><Choices name="c" toName="t"/></View>', "no <Choice>"),
    ('<View><Text name="t" value="$x"/><Choices name="c" toName="t"><Choice value="A"/><Choice value="A"/>'
     '</Choices></View>', "repeating the choices A"),
    ('<View><Text name="t" value="$x"/><Choices name="c" toName="nowhere"><Choice value="A"/></Choices></View>',
     "0 tags named 'nowhere'"),
    ('<View><Text name="a" value="$x"/><Text name="b" value="$y"/><Choices name="c" toName="a,b">'
     '<Choice value="A"/></Choices></View>', "exactly one object"),
])
def test_anything_but_single_object_classification_is_refused_saying_what_was_found(xml: str, found: str) -> None:
    with pytest.raises(UnsupportedConfigError) as caught:
        parse_config(xml)
    message = str(caught.value)
    assert "knn-al serves classification" in message and found in message
    assert isinstance(caught.value, InvalidInputError)


def test_a_config_that_is_not_xml_is_refused_as_such() -> None:
    with pytest.raises(UnsupportedConfigError, match="not well-formed XML"):
        parse_config("<View><Text name='t' value='$x'></View>")


# ------------------------------------------------------------------ mapping
def test_task_and_item_ids_map_both_ways_and_refuse_what_is_not_a_task() -> None:
    assert item_id(42) == "task-42"
    assert task_id("task-42") == 42
    for bad in ("task-", "42", "task-4x", "task-42 "):
        with pytest.raises(InvalidInputError, match="task-<id>"):
            task_id(bad)
    for wrong in (True, -1, "42", None):
        with pytest.raises(InvalidInputError):
            item_id(wrong)  # type: ignore[arg-type]


def test_project_ids_read_from_every_place_label_studio_puts_them() -> None:
    assert project_id("12.1700000000") == 12  # /setup and /predict: "<id>.<timestamp>"
    assert project_id(12) == 12
    assert project_id({"id": 12, "label_config": TEXT}) == 12  # webhooks
    for bad in ("12.abc", "", True, None, {"title": "x"}):
        with pytest.raises(InvalidInputError):
            project_id(bad)


def test_a_label_studio_project_gets_a_valid_knn_al_project_name() -> None:
    assert project_name(7) == "label-studio-7"
    assert NAME_PATTERN.fullmatch(project_name(10**18)) is not None


def test_item_metadata_keeps_the_task_id_and_its_content() -> None:
    task = {"id": 3, "data": {"text": "Stocks rallied.", "other": 1}, "annotations": []}
    assert item_metadata(task, config()) == {"ls_task": 3, "text": "Stocks rallied."}
    image = {"id": 4, "data": {"image": "/data/upload/1/cat.jpg"}}
    assert item_metadata(image, parse_config(IMAGE)) == {"ls_task": 4, "image": "/data/upload/1/cat.jpg"}
    with pytest.raises(InvalidInputError, match="task 5 has no data field 'text'"):
        item_metadata({"id": 5, "data": {"body": "x"}}, config())
    with pytest.raises(InvalidInputError, match="non-empty text"):
        item_metadata({"id": 6, "data": {"text": 17}}, config())


def _choice(*labels: str, from_name: str = "sentiment") -> dict[str, object]:
    return {"id": "WArqkkifYE", "from_name": from_name, "to_name": "text", "type": "choices",
            "value": {"choices": list(labels)}}


def test_the_label_of_an_annotation_is_its_one_choice() -> None:
    assert label_from_result([_choice("Negative")], config()) == "Negative"
    assert label_from_result([], config()) is None


@pytest.mark.parametrize(("result", "error", "says"), [
    ([_choice("Positive", "Negative")], InvalidInputError, "chose 2 labels"),
    ([_choice("Positive"), _choice("Neutral")], InvalidInputError, "chose 2 labels"),
    ([_choice("Joyful")], UnknownLabelError, "'Joyful', which is not one of"),
    ([_choice("Positive", from_name="tone")], InvalidInputError, "from 'tone'"),
    ([{"from_name": "sentiment", "to_name": "text", "type": "labels",
       "value": {"start": 0, "end": 3, "labels": ["Positive"]}}], InvalidInputError, "a 'labels' region"),
    ([{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {}}], InvalidInputError,
     "value.choices"),
    ({"choices": ["Positive"]}, InvalidInputError, "must be a list of regions"),
    ([{**_choice("Positive"), "to_name": "title"}], InvalidInputError, "is on 'title', expected 'text'"),
])
def test_an_annotation_the_config_cannot_have_made_is_refused(result: object, error: type[Exception],
                                                              says: str) -> None:
    with pytest.raises(error) as caught:
        label_from_result(result, config())
    assert says in str(caught.value)


# ------------------------------------------------------------------ webhooks
PROJECT = {"id": 2, "title": "News", "label_config": TEXT}


def _annotation(action: str, *, result: list[object], cancelled: bool = False) -> dict[str, object]:
    return {"action": action, "project": PROJECT,
            "annotation": {"id": 17, "result": result, "was_cancelled": cancelled, "ground_truth": False,
                           "created_at": "2021-08-17T13:52:48.536303Z", "lead_time": 37.13, "prediction": {},
                           "result_count": 0, "task": 19, "completed_by": 1}}


def test_created_and_updated_annotations_become_labels_of_their_task() -> None:
    created = parse_webhook(_annotation("ANNOTATION_CREATED", result=[_choice("Positive")]), config=config())
    assert created == Annotated(project=2, task=19, annotation=17, label="Positive", annotator="label-studio-user-1")
    updated = parse_webhook(_annotation("ANNOTATION_UPDATED", result=[_choice("Neutral")]), config=config())
    assert isinstance(updated, Annotated) and (updated.task, updated.label) == (19, "Neutral")


def test_a_skipped_task_or_an_empty_annotation_gives_no_label() -> None:
    # A skip counts even over a draft choice: Label Studio shows the task as skipped.
    skipped = parse_webhook(_annotation("ANNOTATION_CREATED", result=[_choice("Positive")], cancelled=True),
                            config=config())
    assert isinstance(skipped, Annotated) and skipped.label is None
    empty = parse_webhook(_annotation("ANNOTATION_UPDATED", result=[]), config=config())
    assert isinstance(empty, Annotated) and empty.label is None


def test_deletions_name_their_annotations_and_the_task_when_the_payload_has_it() -> None:
    bulk = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 17}, {"id": 18}], "project": PROJECT}
    assert parse_webhook(bulk, config=config()) == Deleted(project=2, annotations=(17, 18), tasks=())
    single = _annotation("ANNOTATION_DELETED", result=[_choice("Positive")])
    assert parse_webhook(single, config=config()) == Deleted(project=2, annotations=(17,), tasks=(19,))


def test_training_is_a_cue_and_other_actions_are_not_followed() -> None:
    assert parse_webhook({"action": "START_TRAINING", "project": PROJECT}, config=config()) == \
        TrainingRequested(project=2)
    assert parse_webhook({"action": "PROJECT_UPDATED", "project": PROJECT}, config=config()) is None


def test_created_and_deleted_tasks_are_named_by_id() -> None:
    created = {"action": "TASKS_CREATED", "project": PROJECT,
               "tasks": [{"id": 7, "data": {"text": "a"}, "project": 2}, {"id": 8, "data": {"text": "b"}}]}
    assert parse_webhook(created, config=config()) == TasksChanged(project=2, created=(7, 8))
    deleted = {"action": "TASKS_DELETED", "project": PROJECT, "tasks": [{"id": 7}]}
    assert parse_webhook(deleted, config=config()) == TasksChanged(project=2, deleted=(7,))
    with pytest.raises(InvalidInputError, match='expected "tasks"'):
        parse_webhook({"action": "TASKS_DELETED", "project": PROJECT}, config=config())
    with pytest.raises(InvalidInputError, match="a task must be a Label Studio id"):
        parse_webhook({"action": "TASKS_CREATED", "project": PROJECT, "tasks": [{"id": "x"}]}, config=config())


def test_a_malformed_webhook_is_refused_saying_what_is_missing() -> None:
    with pytest.raises(InvalidInputError, match='expected an "annotation" object'):
        parse_webhook({"action": "ANNOTATION_CREATED", "project": PROJECT}, config=config())
    with pytest.raises(InvalidInputError, match="annotation.task"):
        parse_webhook({"action": "ANNOTATION_CREATED", "project": PROJECT, "annotation": {"id": 1, "result": []}},
                      config=config())
    with pytest.raises(InvalidInputError, match="non-empty list"):
        parse_webhook({"action": "ANNOTATIONS_DELETED", "annotations": [], "project": PROJECT}, config=config())
    with pytest.raises(UnknownLabelError):
        parse_webhook(_annotation("ANNOTATION_CREATED", result=[_choice("Joyful")]), config=config())


# ------------------------------------------------------------------ scores and predictions
@pytest.mark.parametrize("seed", range(20))
def test_ascending_score_is_knn_al_pick_order_then_the_unranked(seed: int) -> None:
    rng = random.Random(seed)
    pool = [item_id(t) for t in range(rng.randint(1, 60))]
    order = rng.sample(pool, rng.randint(0, len(pool)))
    scores = pick_scores(order, pool)
    assert set(scores) == set(pool)
    by_score = sorted(pool, key=lambda i: scores[i])
    assert by_score[:len(order)] == order
    ranked = [scores[i] for i in order]
    assert all(0.0 < a < b < UNRANKED_SCORE for a, b in zip(ranked, ranked[1:]))
    assert all(0.0 < s < UNRANKED_SCORE for s in ranked)
    assert all(scores[i] == UNRANKED_SCORE for i in pool if i not in order)


def test_a_pick_order_listing_an_item_twice_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="task-1 repeat"):
        pick_scores(["task-1", "task-2", "task-1"], ["task-1"])


def test_a_prediction_is_the_ml_backend_shape_with_the_predicted_choice() -> None:
    assert build_prediction(config=config(), label="Positive", score=0.25, model_version="knn-al") == {
        "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                    "value": {"choices": ["Positive"]}}],
        "score": 0.25, "model_version": "knn-al"}
    # Before any label knn-al has no guess, but the task still needs its place in the order.
    assert build_prediction(config=config(), label="", score=0.5, model_version="v") == \
        {"result": [], "score": 0.5, "model_version": "v"}


def test_a_prediction_refuses_a_label_or_score_label_studio_could_not_use() -> None:
    with pytest.raises(UnknownLabelError, match="'Joyful'"):
        build_prediction(config=config(), label="Joyful", score=0.5, model_version="v")
    for score in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidInputError, match="score"):
            build_prediction(config=config(), label="Positive", score=score, model_version="v")
