"""Two workers post-process the same done transaction at once (the client's
browser polling the status page while the provider's webhook arrives, or a
webhook replayed while the cron runs): one payment only.

Real database transactions, as in ``test_concurrency.py``: a ``BaseCase`` that
commits its fixtures (a client, a sent credit request, a test provider that is
disabled at the end); the second worker runs as ``odoo.service.model.retrying``
runs a request.
"""

import threading
import time
import uuid
from contextlib import contextmanager

from odoo import Command, api
from odoo.modules.registry import Registry
from odoo.service.model import (
    MAX_TRIES_ON_CONCURRENCY_FAILURE,
    PG_CONCURRENCY_EXCEPTIONS_TO_RETRY,
)
from odoo.tests import common, tagged
from odoo.tests.common import BaseCase
from odoo.tools import mute_logger


@tagged("post_install", "-at_install")
class TestPostProcessingConcurrency(BaseCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(common.get_db_name())
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company = env.ref("base.main_company")
            bank = env["account.journal"].search(
                [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
            )
            partner = env["res.partner"].create(
                {
                    "name": f"Post-processing race {tag}",
                    "email": f"pp-{tag}@example.com",
                }
            )
            pm_unknown = env.ref("payment.payment_method_unknown")
            provider = env["payment.provider"].create(
                {
                    "name": f"Race provider {tag}",
                    "code": "none",
                    "state": "test",
                    "company_id": company.id,
                    "payment_method_ids": [Command.set(pm_unknown.ids)],
                    "journal_id": bank.id,
                }
            )
            cls.partner_id = partner.id
            cls.provider_id = provider.id
            cls.pm_id = pm_unknown.id

    @classmethod
    def tearDownClass(cls):
        with cls._env() as env:
            env["payment.provider"].browse(cls.provider_id).state = "disabled"
        super().tearDownClass()

    @classmethod
    @contextmanager
    def _env(cls):
        with cls.registry.cursor() as cr:
            yield api.Environment(cr, common.ADMIN_USER_ID, {})

    def _done_transaction(self, amount):
        """A sent request and its done, not yet post-processed transaction."""
        with self._env() as env:
            request = env["account.credit.request"].create(
                {"partner_id": self.partner_id, "amount": amount}
            )
            request.write({"state": "sent"})
            Tx = env["payment.transaction"]
            link = {"credit_request_ids": [Command.set(request.ids)]}
            tx = Tx.create(
                {
                    "provider_id": self.provider_id,
                    "payment_method_id": self.pm_id,
                    "reference": Tx._compute_reference("none", **link),
                    "amount": amount,
                    "currency_id": request.currency_id.id,
                    "partner_id": self.partner_id,
                    "operation": "online_direct",
                    **link,
                }
            )
            tx._set_done()
            return request.id, tx.id

    @staticmethod
    def _retrying(func, env):
        """``odoo.service.model.retrying`` without its registry reload."""
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

    @mute_logger("odoo.sql_db")  # The serialization failure is the point.
    def test_two_workers_post_process_one_transaction(self):
        request_id, tx_id = self._done_transaction(70.0)

        def post_process(env):
            env["payment.transaction"].browse(tx_id)._post_process()

        outcome = {}
        cr2 = self.registry.cursor()
        try:
            env2 = api.Environment(cr2, common.ADMIN_USER_ID, {})
            cr2.execute("SELECT pg_backend_pid()")  # Transaction 2 starts here.
            pid = cr2.fetchone()[0]
            with self.registry.cursor() as cr1:
                env1 = api.Environment(cr1, common.ADMIN_USER_ID, {})
                post_process(env1)
                env1.flush_all()

                def worker():
                    try:
                        outcome["result"] = self._retrying(
                            lambda: post_process(env2), env2
                        )
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
        self.assertNotIn("error", outcome, outcome.get("error"))

        with self._env() as env:
            payments = env["account.payment"].search(
                [("payment_transaction_id", "=", tx_id)]
            )
            self.assertEqual(len(payments), 1)
            request = env["account.credit.request"].browse(request_id)
            self.assertEqual(request.state, "paid")
            self.assertEqual(request.payment_ids, payments)
            tx = env["payment.transaction"].browse(tx_id)
            self.assertEqual(tx.payment_id, payments)
