"""Work management tables (issue 9): tasks (nhắc việc), dossiers (hồ sơ công việc), the work calendar
(lịch công tác), staff records (sơ yếu lý lịch) and notifications. Created by migration 3."""
from __future__ import annotations

from peewee import BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .db import database
from .schema import Agency, BaseModel, Department, Document, User


# ---- tasks -----------------------------------------------------------------------------------------------------
class Task(BaseModel):
    """A tracked task (nhiệm vụ) given by a leader or clerk from an outgoing document or an instruction, to a
    person, a unit of the agency, or another agency (hosted here or reached over the exchange)."""

    agency = ForeignKeyField(Agency, backref="tasks", on_delete="RESTRICT")  # the assigning agency
    source = CharField(max_length=12)  # document | instruction
    document = ForeignKeyField(Document, null=True, backref="tasks", on_delete="RESTRICT")
    title = CharField(max_length=500)
    instruction = TextField(default="")
    assigner = ForeignKeyField(User, backref="tasks_given", on_delete="RESTRICT")
    target_kind = CharField(max_length=8)  # user | dept | agency
    target_user = ForeignKeyField(User, null=True, backref="tasks_received", on_delete="RESTRICT")
    target_dept = ForeignKeyField(Department, null=True, backref="tasks", on_delete="RESTRICT")
    target_organ = CharField(max_length=35, null=True)  # agency code (OrganId)
    target_agency = ForeignKeyField(Agency, null=True, backref="tasks_received", on_delete="RESTRICT")
    target_name = CharField(max_length=200, default="")  # kept as given: a unit may be renamed later
    original_deadline = DateField()
    deadline = DateField(index=True)
    # open | submitted (answer waiting for approval) | done | cancelled
    status = CharField(max_length=10, default="open", index=True)
    answer = TextField(default="")
    answered_by = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    answered_at = DateTimeField(null=True)
    created_at = DateTimeField()
    done_at = DateTimeField(null=True)
    last_urged_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("agency", "status", "deadline"), False), (("target_agency", "status"), False))


class TaskEvent(BaseModel):
    """The task's history: created, urged (đôn đốc), extended (gia hạn), answered, approved, returned."""

    task = ForeignKeyField(Task, backref="events", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="RESTRICT")  # null: an answer that came over the exchange
    kind = CharField(max_length=16)
    text = TextField(default="")
    old_deadline = DateField(null=True)
    new_deadline = DateField(null=True)
    created_at = DateTimeField()


class WorkOutbox(BaseModel):
    """Task messages (notice, urge, extension, return, approval) for agencies on other servers, written in the
    transaction of the change; the exchange's push job signs them into its own outbox (exchange/tasks.py
    drain_work_outbox). See core/tasks.send_over_exchange."""

    task = ForeignKeyField(Task, on_delete="CASCADE")
    sender_code = CharField(max_length=35)
    recipient_code = CharField(max_length=35)
    kind = CharField(max_length=16)  # task_notice | task_urge | task_extend | task_return | task_approve
    payload = TextField()  # JSON
    # pending | queued (signed into exchange_outbox) | failed (could not be built: see the worker's log)
    state = CharField(max_length=8, default="pending")
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "work_outbox"


class ReceivedTask(BaseModel):
    """A task given to an agency hosted here by an agency on another server (issue 9), as its task notice
    arrived over the exchange (exchange/tasks.py). The assigning side lives there: here the agency's leaders
    and clerks read it, see urges and extensions arrive, and answer; approval or return comes back."""

    agency = ForeignKeyField(Agency, backref="received_tasks", on_delete="RESTRICT")  # the assignee, hosted here
    from_organ = CharField(max_length=35)  # the assigning agency's OrganId
    from_name = CharField(max_length=200, default="")
    document_id = CharField(max_length=300)  # edXML DocumentId of the task notice: the key of every message
    title = CharField(max_length=500)
    instruction = TextField(default="")
    assigner_name = CharField(max_length=120, default="")
    original_deadline = DateField()
    deadline = DateField(index=True)
    status = CharField(max_length=10, default="open")  # open | submitted | done
    answer = TextField(default="")
    answered_by = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    answered_at = DateTimeField(null=True)
    received_at = DateTimeField()
    done_at = DateTimeField(null=True)
    last_urged_at = DateTimeField(null=True)

    class Meta:
        table_name = "received_task"
        indexes = ((("agency", "document_id"), True), (("agency", "status", "deadline"), False))


class ReceivedTaskEvent(BaseModel):
    """History of a received task: arrived, urged, extended, answered, approved, returned."""

    task = ForeignKeyField(ReceivedTask, backref="events", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="RESTRICT")  # null: the assigning agency, over the exchange
    kind = CharField(max_length=16)
    text = TextField(default="")
    old_deadline = DateField(null=True)
    new_deadline = DateField(null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "received_task_event"


# ---- dossiers --------------------------------------------------------------------------------------------------
class Dossier(BaseModel):
    """One line of the yearly dossier list (danh mục hồ sơ) and, once opened, the dossier itself."""

    agency = ForeignKeyField(Agency, backref="dossiers", on_delete="RESTRICT")
    year = IntegerField()
    heading = CharField(max_length=200, default="")  # đề mục of the list
    file_code = CharField(max_length=30)  # e.g. 01.TCCB
    title = CharField(max_length=500)
    retention_years = IntegerField(null=True)  # null: Vĩnh viễn (permanent)
    owner = ForeignKeyField(User, backref="dossiers", on_delete="RESTRICT")
    department = ForeignKeyField(Department, null=True, on_delete="SET NULL")
    construction = BooleanField(default=False)  # construction projects are due 3 months after work ends
    shared = BooleanField(default=False)  # readable by everyone of the agency
    description = TextField(default="")
    status = CharField(max_length=10, default="planned")  # planned | open | closed | submitted
    start_date = DateField(null=True)
    end_date = DateField(null=True)
    due_date = DateField(null=True, index=True)  # submission to the agency archive (nộp lưu)
    opened_at = DateTimeField(null=True)
    closed_at = DateTimeField(null=True)
    submitted_at = DateTimeField(null=True)
    created_at = DateTimeField()

    class Meta:
        indexes = ((("agency", "year", "file_code"), True),)


class DossierReader(BaseModel):
    dossier = ForeignKeyField(Dossier, backref="readers", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "dossier_reader"
        indexes = ((("dossier", "user"), True),)


class DossierDocument(BaseModel):
    """Many-to-many: a document belongs to several dossiers without being copied."""

    dossier = ForeignKeyField(Dossier, backref="items", on_delete="CASCADE")
    document = ForeignKeyField(Document, backref="dossier_items", on_delete="RESTRICT")
    added_by = ForeignKeyField(User, on_delete="RESTRICT")
    added_at = DateTimeField()

    class Meta:
        table_name = "dossier_document"
        indexes = ((("dossier", "document"), True),)


# ---- calendar --------------------------------------------------------------------------------------------------
class Room(BaseModel):
    agency = ForeignKeyField(Agency, backref="rooms", on_delete="RESTRICT")
    name = CharField(max_length=120)
    capacity = IntegerField(default=0)
    active = BooleanField(default=True)

    class Meta:
        indexes = ((("agency", "name"), True),)


class CalendarEvent(BaseModel):
    agency = ForeignKeyField(Agency, backref="events", on_delete="RESTRICT")
    scope = CharField(max_length=8)  # agency | unit | personal
    department = ForeignKeyField(Department, null=True, on_delete="SET NULL")
    owner = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")  # personal schedules
    title = CharField(max_length=300)
    description = TextField(default="")
    location = CharField(max_length=200, default="")
    room = ForeignKeyField(Room, null=True, backref="events", on_delete="RESTRICT")
    chair = CharField(max_length=120, default="")  # chủ trì
    start = DateTimeField(index=True)
    end = DateTimeField()
    uid = CharField(max_length=200, unique=True)  # iCalendar UID
    cancelled = BooleanField(default=False)
    created_by = ForeignKeyField(User, on_delete="RESTRICT")
    created_at = DateTimeField()

    class Meta:
        table_name = "calendar_event"
        indexes = ((("agency", "start"), False), (("room", "start"), False))


class EventParticipant(BaseModel):
    event = ForeignKeyField(CalendarEvent, backref="participants", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "calendar_participant"
        indexes = ((("event", "user"), True),)


# ---- staff records ---------------------------------------------------------------------------------------------
class StaffProfile(BaseModel):
    """Sơ yếu lý lịch: what the personnel office keeps about a person besides the account."""

    user = ForeignKeyField(User, unique=True, backref="+", on_delete="CASCADE")
    birth_date = DateField(null=True)
    gender = CharField(max_length=10, default="")
    birth_place = CharField(max_length=200, default="")
    ethnicity = CharField(max_length=50, default="")
    education = CharField(max_length=200, default="")  # trình độ chuyên môn
    political_theory = CharField(max_length=100, default="")
    rank = CharField(max_length=100, default="")  # ngạch công chức
    phone = CharField(max_length=30, default="")
    hired_on = DateField(null=True)
    notes = TextField(default="")
    updated_at = DateTimeField()

    class Meta:
        table_name = "staff_profile"


class StaffHistory(BaseModel):
    """Work history: a row per unit and position held, closed (to_date) when the person moves; plus education
    and earlier work entered by hand. Rows are never deleted."""

    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    kind = CharField(max_length=10)  # unit | education | work
    department = ForeignKeyField(Department, null=True, on_delete="SET NULL")
    unit_name = CharField(max_length=200, default="")  # as it was called then
    position = CharField(max_length=120, default="")
    text = TextField(default="")
    from_date = DateField(null=True)
    to_date = DateField(null=True)
    recorded_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    recorded_at = DateTimeField()

    class Meta:
        table_name = "staff_history"


# ---- notifications ---------------------------------------------------------------------------------------------
class Notification(BaseModel):
    user = ForeignKeyField(User, backref="notifications", on_delete="CASCADE")
    kind = CharField(max_length=16)
    title = CharField(max_length=300)
    link = CharField(max_length=200, default="")
    # the periodic scans run again and again: the key makes a second "overdue" for the same task a no-op
    dedup_key = CharField(max_length=120, unique=True)
    created_at = DateTimeField()
    read_at = DateTimeField(null=True)
    mail_state = CharField(max_length=8, default="")  # "" (no mail) | pending | sent
    mailed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "read_at"), False), (("mail_state", "user"), False))


class NotificationPreference(BaseModel):
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    kind = CharField(max_length=16)
    in_app = BooleanField(default=True)
    email = BooleanField(default=True)

    class Meta:
        table_name = "notification_preference"
        indexes = ((("user", "kind"), True),)


class MailLog(BaseModel):
    """One row per digest mail sent: when a user last got mail, so batching can space them."""

    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    sent_at = DateTimeField()
    items = IntegerField()

    class Meta:
        table_name = "mail_log"
        indexes = ((("user", "sent_at"), False),)


class ScanMark(BaseModel):
    """High-water marks of the periodic scans (last assignment id notified, ...)."""

    name = CharField(max_length=40, primary_key=True)
    value = IntegerField(default=0)

    class Meta:
        table_name = "work_scan_mark"


WORK_MODELS = [Task, TaskEvent, WorkOutbox, Dossier, DossierReader, DossierDocument, Room, CalendarEvent,
               EventParticipant, StaffProfile, StaffHistory, Notification, NotificationPreference, MailLog, ScanMark]


def create_work_tables() -> None:
    """Migration 3. safe=True: re-running it changes nothing."""
    database.create_tables(WORK_MODELS, safe=True)
    # Routing assignments made before this release are not announced: the scan starts from today's last row.
    last = database.execute_sql("SELECT COALESCE(MAX(id), 0) FROM assignment").fetchone()[0]
    ScanMark.insert(name="assignment", value=last).on_conflict_ignore().execute()


def create_received_task_tables() -> None:
    """Migration 11: tasks received from agencies on other servers. safe=True: re-running changes nothing."""
    database.create_tables([ReceivedTask, ReceivedTaskEvent], safe=True)
