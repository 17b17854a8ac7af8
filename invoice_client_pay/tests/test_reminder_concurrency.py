"""Two runs of the reminder cron at once (two servers, or a run retried after
a serialization failure): each step of each document is sent once.

Real database transactions (``common_concurrency.RealTransactionsCase``) with
committed fixtures: a client and its credit request due today.
"""

import uuid

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_concurrency import RealTransactionsCase


@tagged("post_install", "-at_install")
class TestReminderConcurrency(RealTransactionsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company = env.ref("base.main_company")
            today = env["invoice_client_pay.reminder.schedule"]._get_company_today(
                company
            )
            partner = env["res.partner"].create(
                {"name": f"Reminder race {tag}", "email": f"rr-{tag}@example.com"}
            )
            request = env["account.credit.request"].create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "amount": 75.0,
                    "date_due": today,
                }
            )
            request.write({"state": "sent", "is_sent": True})
            cls.partner_id = partner.id
            cls.request_id = request.id

    def _remind(self, env):
        env["res.partner"]._cron_send_payment_reminders(
            clients=env["res.partner"].browse(self.partner_id)
        )

    def _digests(self, env):
        return env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", self.partner_id),
                ("message_type", "=", "comment"),
            ]
        )

    def test_two_concurrent_runs_send_once(self):
        # The second run's claim waits for the first's, then fails to serialize
        # (logged by odoo.sql_db) and is run again, as Odoo retries a job.
        with mute_logger("odoo.sql_db"):
            self._run_workers(self._remind, self._remind)
        with self._env() as env:
            self.assertEqual(len(self._digests(env)), 1)
            logs = env["invoice_client_pay.reminder.log"].search(
                [
                    ("res_model", "=", "account.credit.request"),
                    ("res_id", "=", self.request_id),
                ]
            )
            self.assertEqual(len(logs), 1)
            self.assertEqual(logs.step_id.offset_days, 0)
            notes = env["account.credit.request"].browse(self.request_id).message_ids
            self.assertEqual(
                len(notes.filtered(lambda m: "Payment reminder sent" in str(m.body))),
                1,
            )
            # A third run later the same day: still once.
            self._remind(env)
            self.assertEqual(len(self._digests(env)), 1)
