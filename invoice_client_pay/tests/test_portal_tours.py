from odoo.tests import tagged

from .common_portal import ClientPayHttpCommon


@tagged("post_install", "-at_install")
class TestClientPayTours(ClientPayHttpCommon):
    """The client's whole flow in a headless browser: the real payment form, the
    real JS, our transaction routes. The test provider redirects the browser to
    the payment status page, as a hosted payment page would; the provider's
    confirmation is then played on the server (``_set_done`` and the
    post-processing the status page would trigger)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        redirect_form = cls.env["ir.ui.view"].create(
            {
                "name": "ICP test provider redirect",
                "type": "qweb",
                "arch": '<form action="/payment/status" method="get">'
                '<input type="hidden" name="test" value="1"/></form>',
            }
        )
        cls.provider.redirect_form_view_id = redirect_form
        cls.invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.client,
            amounts=[120.0],
            taxes=[],
            company=cls.company,
            post=True,
        )

    def _confirm(self, tx):
        """What the provider's webhook and the status page do."""
        self.assertEqual(tx.state, "draft")
        tx._set_done()
        tx._post_process()

    def _last_tx(self):
        return self.env["payment.transaction"].search([], order="id desc", limit=1)

    def test_tour_logged_in_pay_now_raises_balance(self):
        self.start_tour("/my", "icp_tour_pay_now_logged_in", login="icp_portal_client")
        tx = self._last_tx()
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertEqual(tx.amount, 300.0)
        self.assertEqual(tx.partner_id, self.portal_user.partner_id)
        self.assertEqual(tx.operation, "online_redirect")
        self._confirm(tx)
        self.assertEqual(self.credit_request.state, "paid")
        self.assertAlmostEqual(self._balance(), 300.0)
        self.authenticate("icp_portal_client", "icp_portal_client")
        balance = self._get("/my").text.split("o_icp_credit_balance")[1][:300]
        self.assertTrue("300.00" in balance, balance)

    def test_tour_pay_by_emailed_link_logged_out(self):
        url = self.credit_request.get_secure_payment_url()
        path = url[len(self.credit_request.get_base_url()) :]
        self.start_tour(path, "icp_tour_pay_by_link")
        tx = self._last_tx()
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertEqual(tx.partner_id, self.client)
        self.assertEqual(tx.amount, 300.0)
        self._confirm(tx)
        self.assertEqual(self.credit_request.state, "paid")
        self.assertAlmostEqual(self._balance(), 300.0)
        # Back on the link: the status, no payment form.
        page = self._get(path).text
        self.assertTrue("This credit request is paid" in page)
        self.assertFalse('id="o_payment_form"' in page)

    def test_tour_pay_several(self):
        self.start_tour("/my", "icp_tour_pay_several", login="icp_portal_client")
        tx = self._last_tx()
        self.assertEqual(tx.invoice_ids, self.invoice)
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertEqual(tx.amount, 420.0)
        self._confirm(tx)
        self.assertEqual(self.invoice.payment_state, "paid")
        self.assertEqual(self.credit_request.state, "paid")
        self.assertAlmostEqual(self._balance(), 300.0)
        self.assertLedgerConsistent()

    def test_tour_partial_amount(self):
        self.company.allow_partial_online_payment = True
        path = self._link_path(self.credit_request)
        self.start_tour(path, "icp_tour_partial_amount")
        tx = self._last_tx()
        self.assertEqual(tx.amount, 125.0)
        self._confirm(tx)
        self.assertEqual(self.credit_request.amount_residual, 175.0)
        self.assertEqual(self.credit_request.state, "sent")

    def test_tour_pay_invoice_by_emailed_link_logged_out(self):
        url = self.invoice.get_secure_payment_url()
        path = url[len(self.invoice.get_base_url()) :]
        self.start_tour(path, "icp_tour_pay_invoice_by_link")
        tx = self._last_tx()
        self.assertEqual(tx.invoice_ids, self.invoice)
        self.assertEqual(tx.amount, 120.0)
        self.assertEqual(tx.partner_id, self.client)
        self._confirm(tx)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
