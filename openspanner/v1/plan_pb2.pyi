import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from openspanner.v1 import meter_pb2 as _meter_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Period(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERIOD_UNSPECIFIED: _ClassVar[Period]
    PERIOD_DAY: _ClassVar[Period]
    PERIOD_WEEK: _ClassVar[Period]
    PERIOD_MONTH: _ClassVar[Period]
    PERIOD_YEAR: _ClassVar[Period]

class Enforcement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENFORCEMENT_UNSPECIFIED: _ClassVar[Enforcement]
    ENFORCEMENT_ADVISORY: _ClassVar[Enforcement]
    ENFORCEMENT_HARD: _ClassVar[Enforcement]

class FailurePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_POLICY_UNSPECIFIED: _ClassVar[FailurePolicy]
    FAILURE_POLICY_FAIL_OPEN: _ClassVar[FailurePolicy]
    FAILURE_POLICY_FAIL_CLOSED: _ClassVar[FailurePolicy]

class EntitlementState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITLEMENT_STATE_UNSPECIFIED: _ClassVar[EntitlementState]
    ENTITLEMENT_STATE_OK: _ClassVar[EntitlementState]
    ENTITLEMENT_STATE_WARNING: _ClassVar[EntitlementState]
    ENTITLEMENT_STATE_EXCEEDED: _ClassVar[EntitlementState]
    ENTITLEMENT_STATE_NO_PLAN: _ClassVar[EntitlementState]
    ENTITLEMENT_STATE_NOT_IN_PLAN: _ClassVar[EntitlementState]

class AssignmentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSIGNMENT_STATUS_UNSPECIFIED: _ClassVar[AssignmentStatus]
    ASSIGNMENT_STATUS_SCHEDULED: _ClassVar[AssignmentStatus]
    ASSIGNMENT_STATUS_ACTIVE: _ClassVar[AssignmentStatus]
    ASSIGNMENT_STATUS_ENDED: _ClassVar[AssignmentStatus]
PERIOD_UNSPECIFIED: Period
PERIOD_DAY: Period
PERIOD_WEEK: Period
PERIOD_MONTH: Period
PERIOD_YEAR: Period
ENFORCEMENT_UNSPECIFIED: Enforcement
ENFORCEMENT_ADVISORY: Enforcement
ENFORCEMENT_HARD: Enforcement
FAILURE_POLICY_UNSPECIFIED: FailurePolicy
FAILURE_POLICY_FAIL_OPEN: FailurePolicy
FAILURE_POLICY_FAIL_CLOSED: FailurePolicy
ENTITLEMENT_STATE_UNSPECIFIED: EntitlementState
ENTITLEMENT_STATE_OK: EntitlementState
ENTITLEMENT_STATE_WARNING: EntitlementState
ENTITLEMENT_STATE_EXCEEDED: EntitlementState
ENTITLEMENT_STATE_NO_PLAN: EntitlementState
ENTITLEMENT_STATE_NOT_IN_PLAN: EntitlementState
ASSIGNMENT_STATUS_UNSPECIFIED: AssignmentStatus
ASSIGNMENT_STATUS_SCHEDULED: AssignmentStatus
ASSIGNMENT_STATUS_ACTIVE: AssignmentStatus
ASSIGNMENT_STATUS_ENDED: AssignmentStatus

class Limit(_message.Message):
    __slots__ = ("id", "meter", "period", "limit", "warning_percent", "enforcement", "failure_policy", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    WARNING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    meter: str
    period: Period
    limit: float
    warning_percent: float
    enforcement: Enforcement
    failure_policy: FailurePolicy
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., meter: _Optional[str] = ..., period: _Optional[_Union[Period, str]] = ..., limit: _Optional[float] = ..., warning_percent: _Optional[float] = ..., enforcement: _Optional[_Union[Enforcement, str]] = ..., failure_policy: _Optional[_Union[FailurePolicy, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("id", "name", "description", "version", "parent_plan_id", "is_current", "limits", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    IS_CURRENT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    version: int
    parent_plan_id: str
    is_current: bool
    limits: _containers.RepeatedCompositeFieldContainer[Limit]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., version: _Optional[int] = ..., parent_plan_id: _Optional[str] = ..., is_current: _Optional[bool] = ..., limits: _Optional[_Iterable[_Union[Limit, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePlanRequest(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class CreatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("include_retired",)
    INCLUDE_RETIRED_FIELD_NUMBER: _ClassVar[int]
    include_retired: bool
    def __init__(self, include_retired: _Optional[bool] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans",)
    PLANS_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ...) -> None: ...

class UpdatePlanRequest(_message.Message):
    __slots__ = ("id", "plan")
    ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    id: str
    plan: Plan
    def __init__(self, id: _Optional[str] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class UpdatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: Plan
    def __init__(self, plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class DeletePlanRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeletePlanResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PreviewPlanRequest(_message.Message):
    __slots__ = ("id", "plan")
    ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    id: str
    plan: Plan
    def __init__(self, id: _Optional[str] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ...) -> None: ...

class PreviewPlanResponse(_message.Message):
    __slots__ = ("current", "proposed", "summary", "subjects")
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    current: Plan
    proposed: Plan
    summary: PreviewSummary
    subjects: _containers.RepeatedCompositeFieldContainer[PreviewSubject]
    def __init__(self, current: _Optional[_Union[Plan, _Mapping]] = ..., proposed: _Optional[_Union[Plan, _Mapping]] = ..., summary: _Optional[_Union[PreviewSummary, _Mapping]] = ..., subjects: _Optional[_Iterable[_Union[PreviewSubject, _Mapping]]] = ...) -> None: ...

class PreviewSummary(_message.Message):
    __slots__ = ("subjects", "ok", "warning", "exceeded", "removed_limits")
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_LIMITS_FIELD_NUMBER: _ClassVar[int]
    subjects: int
    ok: int
    warning: int
    exceeded: int
    removed_limits: int
    def __init__(self, subjects: _Optional[int] = ..., ok: _Optional[int] = ..., warning: _Optional[int] = ..., exceeded: _Optional[int] = ..., removed_limits: _Optional[int] = ...) -> None: ...

class PreviewSubject(_message.Message):
    __slots__ = ("subject", "assignment_id", "assignment_status", "items")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    subject: str
    assignment_id: str
    assignment_status: AssignmentStatus
    items: _containers.RepeatedCompositeFieldContainer[PreviewItem]
    def __init__(self, subject: _Optional[str] = ..., assignment_id: _Optional[str] = ..., assignment_status: _Optional[_Union[AssignmentStatus, str]] = ..., items: _Optional[_Iterable[_Union[PreviewItem, _Mapping]]] = ...) -> None: ...

class PreviewItem(_message.Message):
    __slots__ = ("meter", "period", "current", "current_limit", "proposed_limit", "current_state", "proposed_state", "remaining", "overage", "percent", "warning_percent", "window_start", "window_end", "removed", "existing_limit_found")
    METER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATE_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_STATE_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    WARNING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    EXISTING_LIMIT_FOUND_FIELD_NUMBER: _ClassVar[int]
    meter: str
    period: Period
    current: float
    current_limit: float
    proposed_limit: float
    current_state: EntitlementState
    proposed_state: EntitlementState
    remaining: float
    overage: float
    percent: float
    warning_percent: float
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    removed: bool
    existing_limit_found: bool
    def __init__(self, meter: _Optional[str] = ..., period: _Optional[_Union[Period, str]] = ..., current: _Optional[float] = ..., current_limit: _Optional[float] = ..., proposed_limit: _Optional[float] = ..., current_state: _Optional[_Union[EntitlementState, str]] = ..., proposed_state: _Optional[_Union[EntitlementState, str]] = ..., remaining: _Optional[float] = ..., overage: _Optional[float] = ..., percent: _Optional[float] = ..., warning_percent: _Optional[float] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., removed: _Optional[bool] = ..., existing_limit_found: _Optional[bool] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("id", "subject", "plan_id", "plan_name", "plan_version", "status", "active", "assigned_time", "period_anchor_time", "unassigned_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_NAME_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    subject: str
    plan_id: str
    plan_name: str
    plan_version: int
    status: AssignmentStatus
    active: bool
    assigned_time: _timestamp_pb2.Timestamp
    period_anchor_time: _timestamp_pb2.Timestamp
    unassigned_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., subject: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_name: _Optional[str] = ..., plan_version: _Optional[int] = ..., status: _Optional[_Union[AssignmentStatus, str]] = ..., active: _Optional[bool] = ..., assigned_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unassigned_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AssignPlanRequest(_message.Message):
    __slots__ = ("subject", "plan_id", "effective_time")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    subject: str
    plan_id: str
    effective_time: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[str] = ..., plan_id: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AssignPlanResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...

class UnassignPlanRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    def __init__(self, subject: _Optional[str] = ...) -> None: ...

class UnassignPlanResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...

class ListAssignmentsRequest(_message.Message):
    __slots__ = ("subject", "plan_id", "include_history", "page_size")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    plan_id: str
    include_history: bool
    page_size: int
    def __init__(self, subject: _Optional[str] = ..., plan_id: _Optional[str] = ..., include_history: _Optional[bool] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListAssignmentsResponse(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class GetSubjectProgressRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    def __init__(self, subject: _Optional[str] = ...) -> None: ...

class GetSubjectProgressResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: SubjectProgress
    def __init__(self, progress: _Optional[_Union[SubjectProgress, _Mapping]] = ...) -> None: ...

class SubjectProgress(_message.Message):
    __slots__ = ("subject", "plan", "items")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    subject: str
    plan: Plan
    items: _containers.RepeatedCompositeFieldContainer[ProgressItem]
    def __init__(self, subject: _Optional[str] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ..., items: _Optional[_Iterable[_Union[ProgressItem, _Mapping]]] = ...) -> None: ...

class ProgressItem(_message.Message):
    __slots__ = ("meter", "period", "state", "current", "limit", "remaining", "overage", "percent", "warning_percent", "window_start", "window_end", "unit", "aggregation")
    METER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    WARNING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    meter: str
    period: Period
    state: EntitlementState
    current: float
    limit: float
    remaining: float
    overage: float
    percent: float
    warning_percent: float
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    unit: str
    aggregation: _meter_pb2.Aggregation
    def __init__(self, meter: _Optional[str] = ..., period: _Optional[_Union[Period, str]] = ..., state: _Optional[_Union[EntitlementState, str]] = ..., current: _Optional[float] = ..., limit: _Optional[float] = ..., remaining: _Optional[float] = ..., overage: _Optional[float] = ..., percent: _Optional[float] = ..., warning_percent: _Optional[float] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unit: _Optional[str] = ..., aggregation: _Optional[_Union[_meter_pb2.Aggregation, str]] = ...) -> None: ...
