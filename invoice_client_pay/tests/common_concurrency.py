"""Races between two real database transactions.

These tests cannot run in a TransactionCase (one test cursor, no commit): like
Odoo's own ``base/tests/test_ir_sequence.py`` they are a ``BaseCase`` that
opens real cursors on the registry and commits its fixtures. The second worker runs
its work as ``odoo.service.model.retrying`` runs an RPC or HTTP request: a
serialization failure rolls everything back and runs it again, re-reading the
fresh state.
"""

import threading
import time
from contextlib import contextmanager
from functools import partial

from odoo import api
from odoo.modules.registry import Registry
from odoo.service.model import (
    MAX_TRIES_ON_CONCURRENCY_FAILURE,
    PG_CONCURRENCY_EXCEPTIONS_TO_RETRY,
)
from odoo.tests import common
from odoo.tests.common import BaseCase


class RealTransactionsCase(BaseCase):
    """Two workers, each in its own committed database transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(common.get_db_name())

    @staticmethod
    def _company_and_bank(env):
        """The main company and its bank journal."""
        company = env.ref("base.main_company")
        bank = env["account.journal"].search(
            [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
        )
        return company, bank

    @classmethod
    @contextmanager
    def _env(cls):
        """A real transaction, committed at the end of the block."""
        with cls.registry.cursor() as cr:
            yield api.Environment(cr, common.ADMIN_USER_ID, {})

    def _run_workers(self, first, second):
        """``first`` runs and takes its locks in transaction 1 and waits; then
        ``second`` runs in transaction 2 (in a thread, as another worker) and
        blocks on a lock held by the first; transaction 1 commits; ``second``
        goes on through Odoo's retry after the serialization failure, and
        commits.

        The second environment is made in this thread: making one takes the
        registry lock, which the test runner holds.

        :return: (result of first, result or exception of second)
        """
        outcome = {}
        cr2 = self.registry.cursor()
        try:
            env2 = api.Environment(cr2, common.ADMIN_USER_ID, {})
            cr2.execute("SELECT pg_backend_pid()")  # Transaction 2 starts here.
            pid = cr2.fetchone()[0]
            with self.registry.cursor() as cr1:
                env1 = api.Environment(cr1, common.ADMIN_USER_ID, {})
                result1 = first(env1)
                env1.flush_all()

                def worker():
                    try:
                        outcome["result"] = self._retrying(partial(second, env2), env2)
                    except Exception as error:  # noqa: BLE001 - handed to the test
                        outcome["error"] = error

                thread = threading.Thread(target=worker)
                thread.start()
                blocked = self._wait_blocked(pid, outcome)
            # Transaction 1 committed here.
            thread.join(timeout=60)
            self.assertFalse(thread.is_alive())
            self.assertTrue(blocked, "The 2nd worker must wait for the 1st.")
        finally:
            cr2.rollback()
            cr2.close()
        return result1, outcome.get("error", outcome.get("result"))

    @staticmethod
    def _retrying(func, env):
        """``odoo.service.model.retrying``, less its registry reload (which
        takes the registry lock the test runner holds): on a serialization
        failure, roll back, drop the transaction's caches, run ``func`` again;
        commit at the end."""
        for tryno in range(1, MAX_TRIES_ON_CONCURRENCY_FAILURE + 1):
            try:
                result = func()
                env.cr.flush()
                break
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                env.cr.rollback()
                env.transaction.clear()
                if tryno == MAX_TRIES_ON_CONCURRENCY_FAILURE:
                    raise
                time.sleep(0.05 * tryno)
        env.cr.commit()
        return result

    def _wait_blocked(self, pid, outcome, timeout=20):
        """Wait until the second worker waits for a lock."""
        end = time.time() + timeout
        with self._env() as env:
            while time.time() < end and not outcome:
                env.cr.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
                )
                row = env.cr.fetchone()
                if row and row[0] == "Lock":
                    return True
                time.sleep(0.05)
        return False
