"""Task messages across servers (issue 9, phân hệ nhắc việc) carried by edXML.

A task notice is an edXML package with SteeringType 1 and a part of type application/vnd.vanban.task+json
(vendor convention: QCVN 102 has no task message). The hub keeps such packages out of the document figures.
"""
from __future__ import annotations

TASK_STEERING_TYPE = 1
TASK_PART_TYPE = "application/vnd.vanban.task+json"


def is_task_notice(pkg) -> bool:
    return pkg.steering_type == TASK_STEERING_TYPE and any(a.content_type == TASK_PART_TYPE for a in pkg.attachments)
