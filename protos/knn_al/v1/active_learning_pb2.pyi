from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Strategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRATEGY_UNSPECIFIED: _ClassVar[Strategy]
    STRATEGY_RANDOM: _ClassVar[Strategy]
    STRATEGY_LEAST_CONFIDENCE: _ClassVar[Strategy]
    STRATEGY_MARGIN: _ClassVar[Strategy]
    STRATEGY_ENTROPY: _ClassVar[Strategy]
    STRATEGY_UNCERTAINTY_DENSITY_DIVERSITY: _ClassVar[Strategy]

class ProjectState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROJECT_STATE_UNSPECIFIED: _ClassVar[ProjectState]
    PROJECT_STATE_READY: _ClassVar[ProjectState]
    PROJECT_STATE_BROKEN: _ClassVar[ProjectState]

class StopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOP_REASON_UNSPECIFIED: _ClassVar[StopReason]
    STOP_REASON_BUDGET_REACHED: _ClassVar[StopReason]
    STOP_REASON_TARGET_REACHED: _ClassVar[StopReason]
    STOP_REASON_POOL_EXHAUSTED: _ClassVar[StopReason]

class ConflictPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFLICT_POLICY_UNSPECIFIED: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_ERROR: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_SKIP: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_REPLACE: _ClassVar[ConflictPolicy]

class ItemState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_STATE_UNSPECIFIED: _ClassVar[ItemState]
    ITEM_STATE_UNLABELED: _ClassVar[ItemState]
    ITEM_STATE_LABELED: _ClassVar[ItemState]
    ITEM_STATE_PROPAGATED: _ClassVar[ItemState]
    ITEM_STATE_LEASED: _ClassVar[ItemState]
    ITEM_STATE_SKIPPED: _ClassVar[ItemState]

class ItemFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_FILTER_UNSPECIFIED: _ClassVar[ItemFilter]
    ITEM_FILTER_UNLABELED: _ClassVar[ItemFilter]
    ITEM_FILTER_LABELED: _ClassVar[ItemFilter]
    ITEM_FILTER_PROPAGATED: _ClassVar[ItemFilter]
    ITEM_FILTER_LEASED: _ClassVar[ItemFilter]
    ITEM_FILTER_SKIPPED: _ClassVar[ItemFilter]
    ITEM_FILTER_OUTLIER: _ClassVar[ItemFilter]
STRATEGY_UNSPECIFIED: Strategy
STRATEGY_RANDOM: Strategy
STRATEGY_LEAST_CONFIDENCE: Strategy
STRATEGY_MARGIN: Strategy
STRATEGY_ENTROPY: Strategy
STRATEGY_UNCERTAINTY_DENSITY_DIVERSITY: Strategy
PROJECT_STATE_UNSPECIFIED: ProjectState
PROJECT_STATE_READY: ProjectState
PROJECT_STATE_BROKEN: ProjectState
STOP_REASON_UNSPECIFIED: StopReason
STOP_REASON_BUDGET_REACHED: StopReason
STOP_REASON_TARGET_REACHED: StopReason
STOP_REASON_POOL_EXHAUSTED: StopReason
CONFLICT_POLICY_UNSPECIFIED: ConflictPolicy
CONFLICT_POLICY_ERROR: ConflictPolicy
CONFLICT_POLICY_SKIP: ConflictPolicy
CONFLICT_POLICY_REPLACE: ConflictPolicy
ITEM_STATE_UNSPECIFIED: ItemState
ITEM_STATE_UNLABELED: ItemState
ITEM_STATE_LABELED: ItemState
ITEM_STATE_PROPAGATED: ItemState
ITEM_STATE_LEASED: ItemState
ITEM_STATE_SKIPPED: ItemState
ITEM_FILTER_UNSPECIFIED: ItemFilter
ITEM_FILTER_UNLABELED: ItemFilter
ITEM_FILTER_LABELED: ItemFilter
ITEM_FILTER_PROPAGATED: ItemFilter
ITEM_FILTER_LEASED: ItemFilter
ITEM_FILTER_SKIPPED: ItemFilter
ITEM_FILTER_OUTLIER: ItemFilter

class Vectors(_message.Message):
    __slots__ = ("count", "dimension", "data")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    count: int
    dimension: int
    data: bytes
    def __init__(self, count: _Optional[int] = ..., dimension: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class ProjectSettings(_message.Message):
    __slots__ = ("name", "dimension", "k", "default_strategy", "labels", "lease_seconds", "encoder", "duplicate_threshold", "outlier_quantile", "target_accuracy", "label_budget", "keep_raw", "model", "exponents", "vector_dtype", "shards")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_QUANTILE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LABEL_BUDGET_FIELD_NUMBER: _ClassVar[int]
    KEEP_RAW_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    EXPONENTS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    dimension: int
    k: int
    default_strategy: Strategy
    labels: _containers.RepeatedScalarFieldContainer[str]
    lease_seconds: float
    encoder: str
    duplicate_threshold: float
    outlier_quantile: float
    target_accuracy: float
    label_budget: int
    keep_raw: bool
    model: str
    exponents: _containers.RepeatedScalarFieldContainer[float]
    vector_dtype: str
    shards: int
    def __init__(self, name: _Optional[str] = ..., dimension: _Optional[int] = ..., k: _Optional[int] = ..., default_strategy: _Optional[_Union[Strategy, str]] = ..., labels: _Optional[_Iterable[str]] = ..., lease_seconds: _Optional[float] = ..., encoder: _Optional[str] = ..., duplicate_threshold: _Optional[float] = ..., outlier_quantile: _Optional[float] = ..., target_accuracy: _Optional[float] = ..., label_budget: _Optional[int] = ..., keep_raw: _Optional[bool] = ..., model: _Optional[str] = ..., exponents: _Optional[_Iterable[float]] = ..., vector_dtype: _Optional[str] = ..., shards: _Optional[int] = ...) -> None: ...

class ProjectInfo(_message.Message):
    __slots__ = ("settings", "pool_size", "labeled_count", "leased_count", "label_counts", "state", "problem", "active_model")
    class LabelCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEASED_COUNT_FIELD_NUMBER: _ClassVar[int]
    LABEL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MODEL_FIELD_NUMBER: _ClassVar[int]
    settings: ProjectSettings
    pool_size: int
    labeled_count: int
    leased_count: int
    label_counts: _containers.ScalarMap[str, int]
    state: ProjectState
    problem: str
    active_model: str
    def __init__(self, settings: _Optional[_Union[ProjectSettings, _Mapping]] = ..., pool_size: _Optional[int] = ..., labeled_count: _Optional[int] = ..., leased_count: _Optional[int] = ..., label_counts: _Optional[_Mapping[str, int]] = ..., state: _Optional[_Union[ProjectState, str]] = ..., problem: _Optional[str] = ..., active_model: _Optional[str] = ...) -> None: ...

class CreateProjectRequest(_message.Message):
    __slots__ = ("settings", "request_id")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    settings: ProjectSettings
    request_id: str
    def __init__(self, settings: _Optional[_Union[ProjectSettings, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: ProjectInfo
    def __init__(self, project: _Optional[_Union[ProjectInfo, _Mapping]] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects",)
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[ProjectInfo]
    def __init__(self, projects: _Optional[_Iterable[_Union[ProjectInfo, _Mapping]]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class GetProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: ProjectInfo
    def __init__(self, project: _Optional[_Union[ProjectInfo, _Mapping]] = ...) -> None: ...

class DeleteProjectRequest(_message.Message):
    __slots__ = ("project", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    request_id: str
    def __init__(self, project: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteProjectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetGoalsRequest(_message.Message):
    __slots__ = ("project", "target_accuracy", "label_budget", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TARGET_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LABEL_BUDGET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    target_accuracy: float
    label_budget: int
    request_id: str
    def __init__(self, project: _Optional[str] = ..., target_accuracy: _Optional[float] = ..., label_budget: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetGoalsResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: ProjectInfo
    def __init__(self, project: _Optional[_Union[ProjectInfo, _Mapping]] = ...) -> None: ...

class AccuracyEstimate(_message.Message):
    __slots__ = ("accuracy", "low", "high", "labeled")
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    accuracy: float
    low: float
    high: float
    labeled: int
    def __init__(self, accuracy: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., labeled: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("estimate", "target_accuracy", "label_budget", "budget_left", "stop_reason", "active_model")
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LABEL_BUDGET_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MODEL_FIELD_NUMBER: _ClassVar[int]
    estimate: AccuracyEstimate
    target_accuracy: float
    label_budget: int
    budget_left: int
    stop_reason: StopReason
    active_model: str
    def __init__(self, estimate: _Optional[_Union[AccuracyEstimate, _Mapping]] = ..., target_accuracy: _Optional[float] = ..., label_budget: _Optional[int] = ..., budget_left: _Optional[int] = ..., stop_reason: _Optional[_Union[StopReason, str]] = ..., active_model: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("labeled", "propagated", "auto_labeled", "leased", "pool_size", "duplicate_groups", "grouped_items", "outliers", "mean_uncertainty", "progress", "skipped")
    LABELED_FIELD_NUMBER: _ClassVar[int]
    PROPAGATED_FIELD_NUMBER: _ClassVar[int]
    AUTO_LABELED_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    GROUPED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    OUTLIERS_FIELD_NUMBER: _ClassVar[int]
    MEAN_UNCERTAINTY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    labeled: int
    propagated: int
    auto_labeled: int
    leased: int
    pool_size: int
    duplicate_groups: int
    grouped_items: int
    outliers: int
    mean_uncertainty: float
    progress: Progress
    skipped: int
    def __init__(self, labeled: _Optional[int] = ..., propagated: _Optional[int] = ..., auto_labeled: _Optional[int] = ..., leased: _Optional[int] = ..., pool_size: _Optional[int] = ..., duplicate_groups: _Optional[int] = ..., grouped_items: _Optional[int] = ..., outliers: _Optional[int] = ..., mean_uncertainty: _Optional[float] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., skipped: _Optional[int] = ...) -> None: ...

class AddItemsRequest(_message.Message):
    __slots__ = ("project", "ids", "vectors", "metadata", "texts", "images", "request_id", "on_conflict")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ON_CONFLICT_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    vectors: Vectors
    metadata: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    texts: _containers.RepeatedScalarFieldContainer[str]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    request_id: str
    on_conflict: ConflictPolicy
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., metadata: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., texts: _Optional[_Iterable[str]] = ..., images: _Optional[_Iterable[bytes]] = ..., request_id: _Optional[str] = ..., on_conflict: _Optional[_Union[ConflictPolicy, str]] = ...) -> None: ...

class AddItemsResponse(_message.Message):
    __slots__ = ("added", "pool_size", "skipped", "replaced")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    added: int
    pool_size: int
    skipped: int
    replaced: int
    def __init__(self, added: _Optional[int] = ..., pool_size: _Optional[int] = ..., skipped: _Optional[int] = ..., replaced: _Optional[int] = ...) -> None: ...

class LoadDatasetRequest(_message.Message):
    __slots__ = ("project", "path", "import_labels", "request_id", "on_conflict")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    IMPORT_LABELS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ON_CONFLICT_FIELD_NUMBER: _ClassVar[int]
    project: str
    path: str
    import_labels: bool
    request_id: str
    on_conflict: ConflictPolicy
    def __init__(self, project: _Optional[str] = ..., path: _Optional[str] = ..., import_labels: _Optional[bool] = ..., request_id: _Optional[str] = ..., on_conflict: _Optional[_Union[ConflictPolicy, str]] = ...) -> None: ...

class LoadDatasetResponse(_message.Message):
    __slots__ = ("added", "labeled", "pool_size")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    added: int
    labeled: int
    pool_size: int
    def __init__(self, added: _Optional[int] = ..., labeled: _Optional[int] = ..., pool_size: _Optional[int] = ...) -> None: ...

class NextSampleRequest(_message.Message):
    __slots__ = ("project", "count", "strategy", "annotator", "lease_seconds", "seed", "include_outliers", "request_id", "preview", "exponents")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_OUTLIERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    EXPONENTS_FIELD_NUMBER: _ClassVar[int]
    project: str
    count: int
    strategy: Strategy
    annotator: str
    lease_seconds: float
    seed: int
    include_outliers: bool
    request_id: str
    preview: bool
    exponents: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, project: _Optional[str] = ..., count: _Optional[int] = ..., strategy: _Optional[_Union[Strategy, str]] = ..., annotator: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., seed: _Optional[int] = ..., include_outliers: _Optional[bool] = ..., request_id: _Optional[str] = ..., preview: _Optional[bool] = ..., exponents: _Optional[_Iterable[float]] = ...) -> None: ...

class ScoreBreakdown(_message.Message):
    __slots__ = ("score", "uncertainty", "density", "diversity", "uncertainty_term", "density_term", "diversity_term")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    UNCERTAINTY_FIELD_NUMBER: _ClassVar[int]
    DENSITY_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    UNCERTAINTY_TERM_FIELD_NUMBER: _ClassVar[int]
    DENSITY_TERM_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_TERM_FIELD_NUMBER: _ClassVar[int]
    score: float
    uncertainty: float
    density: float
    diversity: float
    uncertainty_term: float
    density_term: float
    diversity_term: float
    def __init__(self, score: _Optional[float] = ..., uncertainty: _Optional[float] = ..., density: _Optional[float] = ..., diversity: _Optional[float] = ..., uncertainty_term: _Optional[float] = ..., density_term: _Optional[float] = ..., diversity_term: _Optional[float] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("id", "metadata", "predicted_label", "probabilities", "score", "lease_expires_at")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    metadata: _struct_pb2.Struct
    predicted_label: str
    probabilities: _containers.ScalarMap[str, float]
    score: ScoreBreakdown
    lease_expires_at: float
    def __init__(self, id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., predicted_label: _Optional[str] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., score: _Optional[_Union[ScoreBreakdown, _Mapping]] = ..., lease_expires_at: _Optional[float] = ...) -> None: ...

class NextSampleResponse(_message.Message):
    __slots__ = ("samples", "progress")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    progress: Progress
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ...) -> None: ...

class StreamItemsRequest(_message.Message):
    __slots__ = ("project", "confidence_threshold", "annotator", "lease_seconds", "id", "vector", "text", "image", "metadata")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    project: str
    confidence_threshold: float
    annotator: str
    lease_seconds: float
    id: str
    vector: Vectors
    text: str
    image: bytes
    metadata: _struct_pb2.Struct
    def __init__(self, project: _Optional[str] = ..., confidence_threshold: _Optional[float] = ..., annotator: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., id: _Optional[str] = ..., vector: _Optional[_Union[Vectors, _Mapping]] = ..., text: _Optional[str] = ..., image: _Optional[bytes] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StreamDecision(_message.Message):
    __slots__ = ("id", "action", "reason", "label", "confidence", "probabilities", "budget_left", "lease_expires_at")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[StreamDecision.Action]
        ACTION_QUERY: _ClassVar[StreamDecision.Action]
        ACTION_AUTO: _ClassVar[StreamDecision.Action]
    ACTION_UNSPECIFIED: StreamDecision.Action
    ACTION_QUERY: StreamDecision.Action
    ACTION_AUTO: StreamDecision.Action
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    action: StreamDecision.Action
    reason: str
    label: str
    confidence: float
    probabilities: _containers.ScalarMap[str, float]
    budget_left: int
    lease_expires_at: float
    def __init__(self, id: _Optional[str] = ..., action: _Optional[_Union[StreamDecision.Action, str]] = ..., reason: _Optional[str] = ..., label: _Optional[str] = ..., confidence: _Optional[float] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., budget_left: _Optional[int] = ..., lease_expires_at: _Optional[float] = ...) -> None: ...

class LabelAssignment(_message.Message):
    __slots__ = ("id", "label")
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    label: str
    def __init__(self, id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class SubmitLabelRequest(_message.Message):
    __slots__ = ("project", "id", "label", "annotator", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    id: str
    label: str
    annotator: str
    request_id: str
    def __init__(self, project: _Optional[str] = ..., id: _Optional[str] = ..., label: _Optional[str] = ..., annotator: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitLabelResponse(_message.Message):
    __slots__ = ("labeled_count", "propagated_ids")
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROPAGATED_IDS_FIELD_NUMBER: _ClassVar[int]
    labeled_count: int
    propagated_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, labeled_count: _Optional[int] = ..., propagated_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitLabelsRequest(_message.Message):
    __slots__ = ("project", "labels", "annotator", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    labels: _containers.RepeatedCompositeFieldContainer[LabelAssignment]
    annotator: str
    request_id: str
    def __init__(self, project: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[LabelAssignment, _Mapping]]] = ..., annotator: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitLabelsResponse(_message.Message):
    __slots__ = ("labeled_count", "propagated_ids")
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROPAGATED_IDS_FIELD_NUMBER: _ClassVar[int]
    labeled_count: int
    propagated_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, labeled_count: _Optional[int] = ..., propagated_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveLabelsRequest(_message.Message):
    __slots__ = ("project", "ids", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemoveLabelsResponse(_message.Message):
    __slots__ = ("labeled_count",)
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    labeled_count: int
    def __init__(self, labeled_count: _Optional[int] = ...) -> None: ...

class ReleaseItemsRequest(_message.Message):
    __slots__ = ("project", "ids", "annotator", "force", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    annotator: str
    force: bool
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., annotator: _Optional[str] = ..., force: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReleaseItemsResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: int
    def __init__(self, released: _Optional[int] = ...) -> None: ...

class RenewLeasesRequest(_message.Message):
    __slots__ = ("project", "ids", "annotator", "lease_seconds", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    annotator: str
    lease_seconds: float
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., annotator: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class RenewLeasesResponse(_message.Message):
    __slots__ = ("lease_expires_at",)
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    lease_expires_at: float
    def __init__(self, lease_expires_at: _Optional[float] = ...) -> None: ...

class LeaseItemsRequest(_message.Message):
    __slots__ = ("project", "ids", "annotator", "lease_seconds", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    annotator: str
    lease_seconds: float
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., annotator: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class LeaseItemsResponse(_message.Message):
    __slots__ = ("lease_expires_at",)
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    lease_expires_at: float
    def __init__(self, lease_expires_at: _Optional[float] = ...) -> None: ...

class UndoLabelRequest(_message.Message):
    __slots__ = ("project", "id", "label", "annotator", "lease_seconds", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    id: str
    label: str
    annotator: str
    lease_seconds: float
    request_id: str
    def __init__(self, project: _Optional[str] = ..., id: _Optional[str] = ..., label: _Optional[str] = ..., annotator: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class UndoLabelResponse(_message.Message):
    __slots__ = ("lease_expires_at", "labeled_count")
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LABELED_COUNT_FIELD_NUMBER: _ClassVar[int]
    lease_expires_at: float
    labeled_count: int
    def __init__(self, lease_expires_at: _Optional[float] = ..., labeled_count: _Optional[int] = ...) -> None: ...

class SkipItemsRequest(_message.Message):
    __slots__ = ("project", "ids", "annotator", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    annotator: str
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., annotator: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SkipItemsResponse(_message.Message):
    __slots__ = ("skipped",)
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    skipped: int
    def __init__(self, skipped: _Optional[int] = ...) -> None: ...

class UnskipItemsRequest(_message.Message):
    __slots__ = ("project", "ids", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnskipItemsResponse(_message.Message):
    __slots__ = ("unskipped",)
    UNSKIPPED_FIELD_NUMBER: _ClassVar[int]
    unskipped: int
    def __init__(self, unskipped: _Optional[int] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("project", "ids", "vectors", "texts", "images")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    vectors: Vectors
    texts: _containers.RepeatedScalarFieldContainer[str]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., texts: _Optional[_Iterable[str]] = ..., images: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Neighbor(_message.Message):
    __slots__ = ("id", "similarity", "label")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    similarity: float
    label: str
    def __init__(self, id: _Optional[str] = ..., similarity: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("id", "label", "probabilities", "neighbors")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    label: str
    probabilities: _containers.ScalarMap[str, float]
    neighbors: _containers.RepeatedCompositeFieldContainer[Neighbor]
    def __init__(self, id: _Optional[str] = ..., label: _Optional[str] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., neighbors: _Optional[_Iterable[_Union[Neighbor, _Mapping]]] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("predictions",)
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    def __init__(self, predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...) -> None: ...

class ListOutliersRequest(_message.Message):
    __slots__ = ("project", "limit")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    project: str
    limit: int
    def __init__(self, project: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class Outlier(_message.Message):
    __slots__ = ("id", "density")
    ID_FIELD_NUMBER: _ClassVar[int]
    DENSITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    density: float
    def __init__(self, id: _Optional[str] = ..., density: _Optional[float] = ...) -> None: ...

class ListOutliersResponse(_message.Message):
    __slots__ = ("outliers",)
    OUTLIERS_FIELD_NUMBER: _ClassVar[int]
    outliers: _containers.RepeatedCompositeFieldContainer[Outlier]
    def __init__(self, outliers: _Optional[_Iterable[_Union[Outlier, _Mapping]]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("project", "include_predictions")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    project: str
    include_predictions: bool
    def __init__(self, project: _Optional[str] = ..., include_predictions: _Optional[bool] = ...) -> None: ...

class ExportRecord(_message.Message):
    __slots__ = ("id", "label", "source", "confidence", "metadata", "annotator", "labeled_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LABELED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    label: str
    source: str
    confidence: float
    metadata: _struct_pb2.Struct
    annotator: str
    labeled_at: float
    def __init__(self, id: _Optional[str] = ..., label: _Optional[str] = ..., source: _Optional[str] = ..., confidence: _Optional[float] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., annotator: _Optional[str] = ..., labeled_at: _Optional[float] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ExportRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ExportRecord, _Mapping]]] = ...) -> None: ...

class RemoveItemsRequest(_message.Message):
    __slots__ = ("project", "ids", "request_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemoveItemsResponse(_message.Message):
    __slots__ = ("removed", "pool_size")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    removed: int
    pool_size: int
    def __init__(self, removed: _Optional[int] = ..., pool_size: _Optional[int] = ...) -> None: ...

class UpdateMetadataRequest(_message.Message):
    __slots__ = ("project", "metadata", "request_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    metadata: _containers.MessageMap[str, _struct_pb2.Struct]
    request_id: str
    def __init__(self, project: _Optional[str] = ..., metadata: _Optional[_Mapping[str, _struct_pb2.Struct]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateMetadataResponse(_message.Message):
    __slots__ = ("updated",)
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    updated: int
    def __init__(self, updated: _Optional[int] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("id", "state", "label", "annotator", "metadata", "predicted_label", "confidence", "probabilities", "outlier", "density", "lease_annotator", "lease_expires_at")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_FIELD_NUMBER: _ClassVar[int]
    DENSITY_FIELD_NUMBER: _ClassVar[int]
    LEASE_ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: ItemState
    label: str
    annotator: str
    metadata: _struct_pb2.Struct
    predicted_label: str
    confidence: float
    probabilities: _containers.ScalarMap[str, float]
    outlier: bool
    density: float
    lease_annotator: str
    lease_expires_at: float
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[ItemState, str]] = ..., label: _Optional[str] = ..., annotator: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., predicted_label: _Optional[str] = ..., confidence: _Optional[float] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., outlier: _Optional[bool] = ..., density: _Optional[float] = ..., lease_annotator: _Optional[str] = ..., lease_expires_at: _Optional[float] = ...) -> None: ...

class GetItemsRequest(_message.Message):
    __slots__ = ("project", "ids")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetItemsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ...) -> None: ...

class ListItemsRequest(_message.Message):
    __slots__ = ("project", "filter", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    filter: ItemFilter
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., filter: _Optional[_Union[ItemFilter, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("project", "id", "vector", "text", "limit", "unlabeled_only")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    UNLABELED_ONLY_FIELD_NUMBER: _ClassVar[int]
    project: str
    id: str
    vector: Vectors
    text: str
    limit: int
    unlabeled_only: bool
    def __init__(self, project: _Optional[str] = ..., id: _Optional[str] = ..., vector: _Optional[_Union[Vectors, _Mapping]] = ..., text: _Optional[str] = ..., limit: _Optional[int] = ..., unlabeled_only: _Optional[bool] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("id", "similarity", "state", "label", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    similarity: float
    state: ItemState
    label: str
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., similarity: _Optional[float] = ..., state: _Optional[_Union[ItemState, str]] = ..., label: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ...) -> None: ...

class ListSuspiciousLabelsRequest(_message.Message):
    __slots__ = ("project", "limit")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    project: str
    limit: int
    def __init__(self, project: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class SuspiciousLabel(_message.Message):
    __slots__ = ("id", "label", "predicted_label", "confidence", "annotator")
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    label: str
    predicted_label: str
    confidence: float
    annotator: str
    def __init__(self, id: _Optional[str] = ..., label: _Optional[str] = ..., predicted_label: _Optional[str] = ..., confidence: _Optional[float] = ..., annotator: _Optional[str] = ...) -> None: ...

class ListSuspiciousLabelsResponse(_message.Message):
    __slots__ = ("labels",)
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedCompositeFieldContainer[SuspiciousLabel]
    def __init__(self, labels: _Optional[_Iterable[_Union[SuspiciousLabel, _Mapping]]] = ...) -> None: ...

class ListDuplicateGroupsRequest(_message.Message):
    __slots__ = ("project", "limit")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    project: str
    limit: int
    def __init__(self, project: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class DuplicateGroup(_message.Message):
    __slots__ = ("ids", "label")
    IDS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    label: str
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., label: _Optional[str] = ...) -> None: ...

class ListDuplicateGroupsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[DuplicateGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[DuplicateGroup, _Mapping]]] = ...) -> None: ...

class ListRecentLabelsRequest(_message.Message):
    __slots__ = ("project", "limit", "annotator")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    project: str
    limit: int
    annotator: str
    def __init__(self, project: _Optional[str] = ..., limit: _Optional[int] = ..., annotator: _Optional[str] = ...) -> None: ...

class LabelEvent(_message.Message):
    __slots__ = ("id", "label", "annotator", "time")
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    label: str
    annotator: str
    time: float
    def __init__(self, id: _Optional[str] = ..., label: _Optional[str] = ..., annotator: _Optional[str] = ..., time: _Optional[float] = ...) -> None: ...

class ListRecentLabelsResponse(_message.Message):
    __slots__ = ("labels",)
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedCompositeFieldContainer[LabelEvent]
    def __init__(self, labels: _Optional[_Iterable[_Union[LabelEvent, _Mapping]]] = ...) -> None: ...
