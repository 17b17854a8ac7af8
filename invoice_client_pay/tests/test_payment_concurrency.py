"""Two workers post-process the same done transaction at once (the client's
browser polling the status page while the provider's webhook arrives, or a
webhook replayed while the cron runs): one payment only.

Real database transactions (``common_concurrency.RealTransactionsCase``) with
committed fixtures (a client, a sent credit request, a test provider that is
disabled at the end); the second worker runs as ``odoo.service.model.retrying``
runs a request.
"""

import uuid
from unittest.mock import patch

from odoo import Command
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_concurrency import RealTransactionsCase


@tagged("post_install", "-at_install")
class TestPostProcessingConcurrency(RealTransactionsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company, bank = cls._company_and_bank(env)
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

    @mute_logger("odoo.sql_db")  # The serialization failure is the point.
    def test_two_workers_post_process_one_transaction(self):
        request_id, tx_id = self._done_transaction(70.0)

        def post_process(env):
            env["payment.transaction"].browse(tx_id)._post_process()

        __, second = self._run_workers(post_process, post_process)
        self.assertNotIsInstance(second, Exception, second)

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

    @mute_logger(
        "odoo.sql_db", "odoo.addons.invoice_client_pay.models.payment_transaction"
    )
    def test_cron_batch_and_status_page_post_process_one_transaction(self):
        """The client's status page (or a webhook) post-processes a transaction
        while the post-processing cron of another server has it in its batch:
        the cron waits for the lock, finds it done and skips it, and still
        pays the rest of its batch."""
        request_id, tx_id = self._done_transaction(80.0)
        other_request_id, other_tx_id = self._done_transaction(30.0)

        def status_page(env):
            env["payment.transaction"].browse(tx_id)._post_process()

        def cron(env):
            env["payment.transaction"].browse([tx_id, other_tx_id])._cron_post_process()

        # The cron commits in its thread; Odoo then raises the client's rank in
        # a new environment (a post-commit hook), which would wait for the
        # registry lock that the test runner holds: not this test's business.
        with self._env() as env:
            Partner = type(env["res.partner"])
        with patch.object(Partner, "_increase_rank", lambda *args, **kwargs: None):
            __, second = self._run_workers(status_page, cron)
        self.assertNotIsInstance(second, Exception, second)

        with self._env() as env:
            for rid, tid in ((request_id, tx_id), (other_request_id, other_tx_id)):
                payments = env["account.payment"].search(
                    [("payment_transaction_id", "=", tid)]
                )
                self.assertEqual(len(payments), 1)
                request = env["account.credit.request"].browse(rid)
                self.assertEqual(request.state, "paid")
                self.assertEqual(request.payment_ids, payments)
                tx = env["payment.transaction"].browse(tid)
                self.assertTrue(tx.is_post_processed)
                self.assertEqual(tx.payment_id, payments)
