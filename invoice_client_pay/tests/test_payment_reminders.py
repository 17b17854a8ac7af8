import re
from datetime import date

from freezegun import freeze_time

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_portal import ClientPayCommon

# A Monday. Dates below are relative to it.
MONDAY = "2026-03-02 10:00:00"


@tagged("post_install", "-at_install")
class TestPaymentReminders(ClientPayCommon):
    """The reminder schedule, the digest (one email per client and run) and
    the rules that keep a wrong reminder from going out."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        cls.schedule = cls.company.payment_reminder_schedule_id
        # The fixture request is not due for a long time: out of the way.
        cls.credit_request.date_due = date(2026, 12, 31)
        cls.Log = cls.env["invoice_client_pay.reminder.log"]

    def _invoice_due(self, due, amount=100.0, partner=None, **kwargs):
        return self._invoice(
            amount, partner=partner, invoice_date=due, invoice_date_due=due, **kwargs
        )

    def _run(self, clients=None):
        """One run of the scheduled action's method; the digests it posted."""
        Message = self.env["mail.message"]
        last = Message.search([], order="id desc", limit=1).id or 0
        self.env["res.partner"]._cron_send_payment_reminders(
            clients=clients or (self.client | self.other_client)
        )
        return Message.search(
            [
                ("id", ">", last),
                ("model", "=", "res.partner"),
                ("message_type", "=", "comment"),
            ]
        )

    def _logs(self, document):
        return self.Log.search(
            [("res_model", "=", document._name), ("res_id", "=", document.id)]
        )

    # ------------------------------------------------------------
    # Schedule
    # ------------------------------------------------------------

    def test_every_company_gets_the_default_schedule(self):
        for company in (self.company, self.env.ref("base.main_company")):
            steps = company.payment_reminder_schedule_id.step_ids
            self.assertEqual(
                [(s.offset_days, s.repeat_interval_days) for s in steps],
                [(-3, 0), (0, 0), (7, 0), (21, 14)],
            )
            self.assertEqual(len(steps.mail_template_id), 4)
            self.assertEqual(
                set(steps.mail_template_id.mapped("model")), {"res.partner"}
            )
        self.assertTrue(
            self.env.ref("invoice_client_pay.ir_cron_payment_reminders").active
        )

    def test_due_step_edge_cases(self):
        due = date(2026, 3, 2)
        cases = {
            date(2026, 2, 26): None,  # 4 days before: nothing yet
            date(2026, 2, 27): (-3, 0),  # 3 days before
            date(2026, 2, 28): (-3, 0),  # still the latest step reached
            date(2026, 3, 2): (0, 0),  # due today
            date(2026, 3, 8): (0, 0),
            date(2026, 3, 9): (7, 0),  # 7 days after
            date(2026, 3, 22): (7, 0),
            date(2026, 3, 23): (21, 0),  # 21 days after
            date(2026, 4, 5): (21, 0),
            date(2026, 4, 6): (21, 1),  # then every 14 days
            date(2026, 4, 20): (21, 2),
        }
        for today, expected in cases.items():
            step, occurrence = self.schedule._get_due_step(due, today)
            got = (step.offset_days, occurrence) if step else None
            self.assertEqual(got, expected, today)
        self.assertFalse(self.schedule._get_due_step(False, due)[0])

    def test_weekends_are_not_skipped_unless_configured(self):
        saturday, sunday, monday = date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)
        self.assertEqual(saturday.weekday(), 5)
        step, __ = self.schedule._get_due_step(saturday, saturday)
        self.assertEqual(step.offset_days, 0)
        self.schedule.skip_weekends = True
        self.assertFalse(self.schedule._get_due_step(saturday, saturday)[0])
        self.assertFalse(self.schedule._get_due_step(saturday, sunday)[0])
        # The Monday run sends what fell on the weekend.
        self.assertEqual(
            self.schedule._get_due_step(saturday, monday)[0].offset_days, 0
        )
        invoice = self._invoice_due(saturday)
        with freeze_time("2026-02-28 12:00:00"):
            self.assertFalse(self._run())
        with freeze_time(MONDAY):
            self.assertEqual(len(self._run()), 1)
        self.assertEqual(self._logs(invoice).step_id.offset_days, 0)

    def test_today_is_the_company_time_zone_s(self):
        """20:00 UTC on 2 March is already 3 March in Auckland, still 2 March
        in Los Angeles: the invoice due on 3 March is due today in one, due
        tomorrow (the "3 days before" step) in the other."""
        invoice = self._invoice_due(date(2026, 3, 3))
        self.company.partner_id.tz = "America/Los_Angeles"
        with freeze_time("2026-03-02 20:00:00"):
            self._run()
        self.assertEqual(self._logs(invoice).step_id.offset_days, -3)
        self.company.partner_id.tz = "Pacific/Auckland"
        with freeze_time("2026-03-02 20:00:00"):
            self._run()
        self.assertEqual(
            sorted(self._logs(invoice).step_id.mapped("offset_days")), [-3, 0]
        )

    # ------------------------------------------------------------
    # The digest
    # ------------------------------------------------------------

    def test_one_digest_per_client_with_every_link(self):
        invoice_1 = self._invoice_due(date(2026, 2, 23), amount=100.0)  # 7 days late
        invoice_2 = self._invoice_due(date(2026, 3, 30), amount=50.0)  # not yet
        self.credit_request.date_due = date(2026, 3, 2)  # due today
        other_invoice = self._invoice_due(date(2026, 3, 2), partner=self.other_client)
        with freeze_time(MONDAY):
            digests = self._run()
        self.assertEqual(len(digests), 2, "one email per client")
        digest = digests.filtered(lambda m: m.res_id == self.client.id)
        self.assertEqual(digest.model, "res.partner")
        body = str(digest.body)
        # Every unpaid item, each with its own secure link.
        for document in (invoice_1, invoice_2, self.credit_request):
            self.assertIn(document.name, body)
            token = re.search(
                rf"{re.escape(document.access_url)}\?access_token=([0-9]+\.[\w-]+)",
                body,
            )
            self.assertTrue(token, document.name)
            self.assertTrue(document._check_payment_link_token(token.group(1)))
        self.assertNotIn(other_invoice.name, body)
        self.assertIn(f"/my/unpaid/link/{self.client.id}?items=", body)
        self.assertIn("450.00", body)  # the pay-all total
        # Queued in Odoo's mail queue, not sent.
        mails = self.env["mail.mail"].search([("mail_message_id", "=", digest.id)])
        self.assertTrue(mails)
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})
        self.assertIn(self.client, digest.partner_ids)
        # Logged per document and step, and in each reminded document's chatter.
        self.assertEqual(self._logs(invoice_1).step_id.offset_days, 7)
        self.assertEqual(self._logs(self.credit_request).step_id.offset_days, 0)
        self.assertFalse(self._logs(invoice_2))
        for document in (invoice_1, self.credit_request):
            self.assertIn("Payment reminder sent", str(document.message_ids[:1].body))
        # The same day again: nothing.
        with freeze_time(MONDAY):
            self.assertFalse(self._run())

    def test_a_step_is_sent_once_then_repeats(self):
        invoice = self._invoice_due(date(2026, 2, 9))  # 21 days late
        with freeze_time(MONDAY):
            self.assertEqual(len(self._run()), 1)
            self.assertFalse(self._run())
        with freeze_time("2026-03-15 10:00:00"):
            self.assertFalse(self._run())
        with freeze_time("2026-03-16 10:00:00"):  # 14 days later
            self.assertEqual(len(self._run()), 1)
        self.assertEqual(sorted(self._logs(invoice).mapped("occurrence")), [0, 1])
        # The database refuses a second log of a step.
        step = self._logs(invoice)[:1].step_id
        claimed = self.Log._claim([(invoice, step, 0, self.client)])
        self.assertEqual(claimed, set())
        with mute_logger("odoo.sql_db"), self.assertRaises(Exception):  # noqa: B017
            with self.env.cr.savepoint():
                self.Log.create(
                    {
                        "res_model": invoice._name,
                        "res_id": invoice.id,
                        "step_id": step.id,
                        "occurrence": 0,
                    }
                )

    def test_never_a_wrong_reminder(self):
        due = date(2026, 3, 2)
        paid = self._invoice_due(due)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=paid.ids
        ).create({})._create_payments()
        cancelled = self._credit_request(70.0, date_due=due)
        cancelled.action_send()
        cancelled.action_cancel()
        pending = self._credit_request(80.0, date_due=due)
        pending.action_send()
        pending.state = "pending"
        to_charge = self._credit_request(90.0, date_due=due)
        to_charge.action_send()
        to_charge.auto_charge_next_date = "2026-03-03 00:00:00"
        draft = self._credit_request(95.0, date_due=due)
        self.other_client.payment_reminder_opt_out = True
        opted_out = self._invoice_due(due, partner=self.other_client)
        with freeze_time(MONDAY):
            self.assertFalse(self._run())
        for document in (paid, cancelled, pending, to_charge, draft, opted_out):
            self.assertFalse(self._logs(document), document.name)
        # A client following its own schedule.
        own = self.schedule.copy({"name": "Early"})
        own.step_ids.filtered(lambda s: s.offset_days == -3).offset_days = -10
        self.client.payment_reminder_schedule_id = own
        early = self._invoice_due(date(2026, 3, 10))
        with freeze_time(MONDAY):
            self.assertEqual(len(self._run()), 1)
        self.assertEqual(self._logs(early).step_id.offset_days, -10)

    def test_pending_payment_holds_reminders_within_its_window(self):
        """A bank transfer the client announced holds the invoice's reminders
        back for the company's pending window, not for ever."""
        self.company.pending_payment_validity_days = 10
        invoice = self._invoice_due(date(2026, 3, 2))
        tx = self._new_tx(self.env["account.credit.request"], invoices=invoice)
        tx._set_pending()
        tx.last_state_change = "2026-02-27 10:00:00"  # 3 days ago
        with freeze_time(MONDAY):
            self.assertFalse(self._run())
        self.assertFalse(self._logs(invoice))
        tx.last_state_change = "2026-02-15 10:00:00"  # 15 days ago: lapsed
        with freeze_time(MONDAY):
            self.assertEqual(len(self._run()), 1)
        self.assertEqual(self._logs(invoice).step_id.offset_days, 0)

    def test_mixed_currencies_get_separate_pay_all_links(self):
        eur = self.setup_other_currency("EUR")
        self._invoice_due(date(2026, 3, 2))
        self._invoice_due(date(2026, 3, 2), currency_id=eur.id)
        with freeze_time(MONDAY):
            digest = self._run()
        self.assertEqual(len(digest), 1)
        self.assertEqual(
            str(digest.body).count(f"/my/unpaid/link/{self.client.id}?"), 2
        )
