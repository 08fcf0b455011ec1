"""
The task ids of find and forget in the example DAG and the backlog DAG, and the backlog DAG's id.

The DAG files import this module at every parse: it imports nothing.
"""

from __future__ import annotations

FIND_TASK = "find_files_to_forget"
FORGET_TASK = "forget_erased_users_in_files"
RECORD_TASK = "record_find_and_forget"
#: The backlog DAG's id.
BACKLOG_DAG_ID = "personalize_forget_backlog"
