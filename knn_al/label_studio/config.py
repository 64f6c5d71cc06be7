"""What a Label Studio labeling config asks for, when knn-al can serve it: classification.

knn-al keeps one label per item out of a fixed set, so the one config it serves is a single
``<Choices>`` over a single ``<Text value="$key">`` or ``<Image value="$key">``. Every other
config is refused at ``/setup`` with what is supported and what was found, rather than
answering with predictions Label Studio would show on the wrong control.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from knn_al.errors import InvalidInputError, listing

__all__ = ["ENCODERS", "LabelingConfig", "UnsupportedConfigError", "parse_config"]

#: The knn-al encoder that embeds each kind of object.
ENCODERS = {"text": "use-multilingual", "image": "mobilenet_v1"}
_OBJECTS = {"text": "text", "image": "image"}
_SUPPORTED = ('one <Choices name=".." toName="x"> with <Choice value=".."/> children over one '
              '<Text name="x" value="$key"> or <Image name="x" value="$key">')


class UnsupportedConfigError(InvalidInputError):
    """A labeling config the bridge cannot serve (anything but single-object classification)."""


@dataclass(frozen=True)
class LabelingConfig:
    """A classification config: ``from_name`` (the Choices) labels ``to_name`` (the object),
    whose content is the task's ``data[data_key]``. ``labels`` are the values a result carries
    (a Choice's ``alias`` when it has one, else its ``value``), in the config's order."""

    kind: Literal["text", "image"]
    from_name: str
    to_name: str
    data_key: str
    labels: tuple[str, ...]
    choice: Literal["single", "multiple"]

    @property
    def encoder(self) -> str:
        return ENCODERS[self.kind]


def _refuse(found: str) -> UnsupportedConfigError:
    return UnsupportedConfigError(f"unsupported labeling config: knn-al serves classification, {_SUPPORTED}; "
                                  f"found {found}")


def parse_config(xml: str) -> LabelingConfig:
    """The classification a labeling config asks for; UnsupportedConfigError for anything else."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise UnsupportedConfigError(f"the labeling config is not well-formed XML ({exc})") from None
    # Control tags are the ones that write results: they name the object they label.
    controls = [e for e in root.iter() if "toName" in e.attrib]
    unaimed = [e for e in root.iter() if e.tag.lower() == "choices" and "toName" not in e.attrib]
    if unaimed:
        raise _refuse(f"<Choices name={unaimed[0].get('name', '')!r}> without toName (the object it labels)")
    if len(controls) != 1:
        names = [f"<{e.tag} name={e.get('name', '')!r}>" for e in controls]
        raise _refuse(f"{len(controls)} control tags ({listing(names)})")
    control = controls[0]
    if control.tag.lower() != "choices":
        raise _refuse(f"<{control.tag}>")
    from_name = control.get("name", "")
    if not from_name:
        raise _refuse("a <Choices> without a name")
    if control.get("perRegion", "false").lower() == "true":
        raise _refuse(f"<Choices name={from_name!r} perRegion=\"true\"> (a label per region, not per task)")
    if control.get("value", "").startswith("$"):
        raise _refuse(f"<Choices name={from_name!r}> taking its choices from the task data "
                      f"({control.get('value')}); knn-al needs a fixed label set")
    to_name = control.get("toName", "")
    if not to_name or "," in to_name:
        raise _refuse(f"<Choices name={from_name!r} toName={to_name!r}>: it must name exactly one object")
    targets = [e for e in root.iter() if e.get("name") == to_name and e is not control]
    if len(targets) != 1:
        raise _refuse(f"{len(targets)} tags named {to_name!r} (the Choices' toName)")
    target = targets[0]
    kind = _OBJECTS.get(target.tag.lower())
    if kind is None:
        raise _refuse(f"<Choices> over <{target.tag} name={to_name!r}>")
    value = target.get("value", "")
    if not value.startswith("$") or len(value) < 2:
        raise _refuse(f"<{target.tag} name={to_name!r} value={value!r}>: "
                      "the value must be $key, a field of the task data")
    labels: list[str] = [c.get("alias") or c.get("value") or "" for c in control.iter() if c.tag.lower() == "choice"]
    if not labels or "" in labels:
        raise _refuse(f"<Choices name={from_name!r}> with {'a <Choice> without a value' if labels else 'no <Choice>'}")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise _refuse(f"<Choices name={from_name!r}> repeating the choices {listing(repeated)}")
    choice = control.get("choice", "single").lower()
    if choice not in ("single", "single-radio", "multiple"):
        raise _refuse(f"<Choices name={from_name!r} choice={choice!r}>")
    return LabelingConfig(kind="text" if kind == "text" else "image", from_name=from_name, to_name=to_name,
                          data_key=value[1:], labels=tuple(labels),
                          choice="multiple" if choice == "multiple" else "single")
