import shutil

from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestDemoPayment(HttpCase):
    """The demo database takes money: run on the demo data of a fresh database
    (scripts/test installs this module with demo data, as scripts/demo does)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.demo_provider = cls.env.ref("payment.payment_provider_demo")
        cls.portal_client = cls.env.ref(
            "base.partner_demo_portal"
        ).commercial_partner_id

    def _open_items(self):
        """What the portal client has still to pay: invoices and requests."""
        invoices = self.env["account.move"].search(
            [
                ("commercial_partner_id", "=", self.portal_client.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
            ]
        )
        requests = self.env["account.credit.request"].search(
            [
                ("partner_id", "child_of", self.portal_client.id),
                ("state", "in", ("sent", "pending")),
            ]
        )
        return invoices, requests

    def _post_process_demo_payments(self):
        """What Odoo's payment status page and post-processing cron do."""
        txs = self.env["payment.transaction"].search(
            [
                ("provider_id", "=", self.demo_provider.id),
                ("partner_id", "child_of", self.portal_client.id),
            ],
            order="id desc",
        )
        txs.filtered(
            lambda tx: tx.state == "done" and not tx.is_post_processed
        )._post_process()
        return txs[:1]

    def test_demo_providers_are_ready(self):
        self.assertEqual(self.demo_provider.state, "test")
        self.assertTrue(self.demo_provider.is_published)
        transfer = self.env.ref("payment.payment_provider_transfer")
        self.assertEqual(transfer.state, "enabled")
        self.assertTrue(transfer.is_published)
        self.assertIn("BE71 0961 2345 6769", transfer.pending_msg)

    def test_demo_credit_request_pdf(self):
        """The Download button of the demo's requests gives a real PDF
        (wkhtmltopdf, which scripts/demo installs, fetching its assets from the
        running server as in the demo)."""
        state = self.env["ir.actions.report"].get_wkhtmltopdf_state()
        if state not in ("ok", "workers") or not shutil.which("wkhtmltopdf"):
            self.skipTest(f"wkhtmltopdf is not usable here (state: {state})")
        credit_request = self.env.ref(
            "invoice_client_pay.demo_credit_request_portal_open"
        )
        pdf, kind = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(
                "invoice_client_pay.action_report_credit_request", credit_request.ids
            )
        )
        self.assertEqual(kind, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF-"))
        self.assertGreater(len(pdf), 1000)

    def test_demo_has_credit_to_pay_from(self):
        invoice = self.env.ref("invoice_client_pay_demo.demo_invoice_wood_corner")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(invoice.partner_id.client_credit_balance, 600.0)
        deco_addict = self.env.ref("base.res_partner_2")
        self.assertTrue(deco_addict.auto_charge_credit_requests)
        charged = self.env.ref(
            "invoice_client_pay_demo.demo_credit_request_auto_charged"
        )
        self.assertEqual(
            charged.transaction_ids.token_id,
            self.env.ref("invoice_client_pay_demo.demo_token_deco_addict"),
        )
        self.assertEqual(charged.transaction_ids.state, "done")

    def test_portal_client_pays_with_the_demo_provider(self):
        invoices, requests = self._open_items()
        self.assertEqual(len(invoices), 1, "the demo has one unpaid invoice for portal")
        self.assertEqual(len(requests), 1, "and one open credit request")
        balance = self.portal_client.client_credit_balance

        self.start_tour("/my", "icp_demo_tour_pay_invoice", login="portal")
        tx = self._post_process_demo_payments()
        self.assertEqual(tx.invoice_ids, invoices)
        self.assertEqual(tx.amount, 250.0)
        self.assertIn(invoices.payment_state, ("paid", "in_payment"))

        self.start_tour("/my", "icp_demo_tour_pay_credit_request", login="portal")
        tx = self._post_process_demo_payments()
        self.assertEqual(tx.credit_request_ids, requests)
        self.assertEqual(requests.state, "paid")
        self.portal_client.invalidate_recordset(["client_credit_balance"])
        self.assertEqual(self.portal_client.client_credit_balance, balance + 1000.0)

        # The panel shows it: nothing left to pay, and the new balance.
        self.authenticate("portal", "portal")
        page = self.url_open("/my").text
        self.assertNotIn("o_icp_pay_now", page)
        self.assertIn("1,000.00", page)
