from lxml import html

from odoo.tests import JsonRpcException, tagged

from .common_portal import ClientPayHttpCommon


@tagged("post_install", "-at_install")
class TestInvoicePaymentLink(ClientPayHttpCommon):
    """Signed links on invoices, the hardened /invoice/transaction/<id>, the
    invoice page, and the links the emails carry."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        cls.invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.client,
            amounts=[200.0],
            taxes=[],
            company=cls.company,
            post=True,
        )
        cls.other_invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.other_client,
            amounts=[80.0],
            taxes=[],
            company=cls.company,
            post=True,
        )

    def _pay(self, invoice, amount, access_token, **overrides):
        return self.make_jsonrpc_request(
            f"/invoice/transaction/{invoice.id}",
            {"access_token": access_token, **self._tx_values(amount, **overrides)},
        )

    def assertPlainNotFound(self, url):
        return super().assertPlainNotFound(url, "/my/invoices/999999999")

    def test_secure_url(self):
        url = self.invoice.get_secure_payment_url()
        self.assertTrue(url.startswith(self.invoice.get_base_url() + "/my/invoices/"))
        response = self._get(url)
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.invoice.name, response.text)
        self.assertIn('id="o_payment_form"', response.text)
        self.assertNotIn(
            self.invoice.access_token,
            response.text,
            "The raw portal token never leaves the server",
        )
        # The page goes on with the signed link: PDF, chatter, payment.
        token = url.split("access_token=")[1]
        pdf = self._get(
            f"{self.invoice.access_url}?access_token={token}&report_type=html"
        )
        self.assertEqual(pdf.status_code, 200)
        fetched = self.make_jsonrpc_request(
            "/mail/chatter_fetch",
            {
                "thread_model": "account.move",
                "thread_id": self.invoice.id,
                "token": token,
            },
        )
        self.assertIn("messages", fetched)

    def test_refused_links(self):
        invoice = self.invoice
        good = invoice._get_payment_link_token()
        issued, signature = good.split(".")
        base = invoice.access_url
        for url in (
            base,
            f"{base}?access_token=wrong",
            f"{base}?access_token={issued}.{signature[::-1]}",
            f"{base}?access_token={int(issued) - 1}.{signature}",
            f"{base}?access_token={self.other_invoice._get_payment_link_token()}",
        ):
            self.assertPlainNotFound(url)
        self.company.payment_link_validity_days = 3
        self.assertPlainNotFound(
            f"{base}?access_token={self._expired_token(invoice, 4)}"
        )
        invoice.action_revoke_payment_link()
        self.assertPlainNotFound(f"{base}?access_token={good}")
        self.assertEqual(self._get(self._link_path(invoice)).status_code, 200)

    def test_another_clients_invoice_logged_in(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertPlainNotFound(self.other_invoice.access_url)

    def test_transaction_by_link(self):
        token = self.invoice._get_payment_link_token()
        self._pay(self.invoice, 200.0, token)
        tx = self.invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.amount, 200.0)
        self.assertEqual(tx.partner_id, self.client)
        tx._set_done()
        tx._post_process()
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        # Paid: nothing more to pay.
        with self.assertRaises(JsonRpcException) as error:
            self._pay(self.invoice, 200.0, token)
        self.assertIn("ValidationError", str(error.exception))

    def test_partial_amount_field_follows_the_setting(self):
        """The payment dialog asks for an amount, up to what is still to pay,
        only when the company allows partial payments."""
        path = self._link_path(self.invoice)

        def amount_inputs():
            page = html.fromstring(self._get(path).text)
            return page.xpath("//input[@name='o_icp_amount']")

        self.assertFalse(amount_inputs())
        self.company.allow_partial_online_payment = True
        [amount_input] = amount_inputs()
        self.assertEqual(float(amount_input.get("value")), 200.0)
        self.assertEqual(float(amount_input.get("max")), 200.0)

    def test_transaction_refused_tokens(self):
        for token in ("wrong", self._expired_token(self.invoice, 400), "1.abc"):
            self.company.payment_link_validity_days = 30
            with self.assertRaises(JsonRpcException) as error:
                self._pay(self.invoice, 200.0, token)
            self.assertEqual(error.exception.code, 404)
        self.assertFalse(self.invoice.transaction_ids)

    def test_amount_tampering(self):
        token = self.invoice._get_payment_link_token()
        for amount in (0, -1.0, 200.01, "abc", None, 150.0):
            with self.assertRaises(JsonRpcException, msg=str(amount)) as error:
                self._pay(self.invoice, amount, token)
            self.assertIn("ValidationError", str(error.exception))
        self.assertFalse(self.invoice.transaction_ids)
        self.company.allow_partial_online_payment = True
        with self.assertRaises(JsonRpcException):
            self._pay(self.invoice, 200.01, token)
        self._pay(self.invoice, 150.0, token)
        self.assertEqual(self.invoice.transaction_ids.amount, 150.0)

    def test_injected_parameters_refused(self):
        token = self.invoice._get_payment_link_token()
        for key, value in (
            ("partner_id", self.other_client.id),
            ("company_id", 1),
            ("reference", "X"),
            ("credit_request_ids", [self.credit_request.id]),
        ):
            with self.assertRaises(JsonRpcException, msg=key) as error:
                self._pay(self.invoice, 200.0, token, **{key: value})
            self.assertIn("BadRequest", str(error.exception))
        self.assertFalse(self.invoice.transaction_ids)

    def test_invoice_page_shows_credit_and_still_to_pay(self):
        self.company.auto_mark_invoices_paid = True
        # The new credit pays the client's open invoice.
        self._add_credit(50.0)
        invoice = self.invoice
        self.assertEqual(invoice.amount_paid_from_credit, 50.0)
        response = self._get(self._link_path(invoice))
        self.assertEqual(response.status_code, 200)
        html = response.text
        self.assertTrue("o_icp_invoice_credit" in html)
        still = html.split("o_icp_invoice_still_to_pay")[1][:400]
        self.assertTrue("150.00" in still, still)

    # ------------------------------------------------------------
    # Emails
    # ------------------------------------------------------------

    def test_credit_request_email_carries_the_link(self):
        request = self._make_sent_request(90.0)
        mail = self.env["mail.mail"].search(
            [("model", "=", "account.credit.request"), ("res_id", "=", request.id)],
            order="id desc",
            limit=1,
        )
        message = request.message_ids.filtered(lambda m: "Pay Now" in (m.body or ""))[
            :1
        ]
        body = str(mail.body_html or message.body)
        self.assertIn(f"/my/credit_requests/{request.id}?access_token=", body)
        self.assertNotIn(request.access_token, body)
        url = body.split(f"/my/credit_requests/{request.id}?access_token=")[1]
        token = url.split('"')[0].split("&")[0]
        self.assertTrue(request._check_payment_link_token(token))
        self.assertEqual(self._get(self._link_path(request, token)).status_code, 200)

    def test_notification_buttons_carry_the_signed_link(self):
        for record in (self.invoice, self.credit_request):
            message = record.message_post(body="Hello", partner_ids=self.client.ids)
            groups = record._notify_get_recipients_groups(message, "Doc")
            urls = [
                data["button_access"]["url"]
                for __, __, data in groups
                if data.get("button_access", {}).get("url")
                and "access_token=" in data["button_access"]["url"]
            ]
            self.assertTrue(urls, record)
            for url in urls:
                self.assertNotIn(f"access_token={record.access_token}", url)
                token = url.split("access_token=")[1].split("&")[0]
                self.assertTrue(record._check_payment_link_token(token))

    def test_receipt_sent_when_paid_online(self):
        tx = self._new_tx(self.credit_request)
        tx._set_done()
        tx._post_process()
        # The receipt goes once the payment is committed, by its scheduled action.
        self.env["payment.transaction"]._cron_send_payment_receipts()
        receipt = tx.payment_id.message_ids.filtered(
            lambda m: "Payment Receipt" in (m.subject or "")
        )
        self.assertEqual(len(receipt), 1)
        self.assertIn(self.credit_request.name, receipt.body)
        self.assertIn(self.client, receipt.partner_ids)
        # Replayed post-processing: no second receipt.
        tx.is_post_processed = False
        tx._post_process()
        self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertEqual(
            len(
                tx.payment_id.message_ids.filtered(
                    lambda m: "Payment Receipt" in (m.subject or "")
                )
            ),
            1,
        )
        invoice_tx = self._new_tx(self.env["account.credit.request"], self.invoice)
        invoice_tx._set_done()
        invoice_tx._post_process()
        self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertTrue(
            invoice_tx.payment_id.message_ids.filtered(
                lambda m: "Payment Receipt" in (m.subject or "")
            )
        )

    def test_invoice_email_mentions_credit_and_link(self):
        self.company.auto_mark_invoices_paid = True
        self._add_credit(50.0)
        template = self.env.ref("account.email_template_edi_invoice")
        body = str(
            self.env["account.move.send"]._get_default_mail_body(
                self.invoice, template, "en_US"
            )
        )
        self.assertIn("Paid from your credit", body)
        self.assertIn("50.00", body)
        self.assertIn("Still to pay", body)
        self.assertIn("150.00", body)
        self.assertIn(f"/my/invoices/{self.invoice.id}?access_token=", body)
        token = body.split("access_token=")[1].split('"')[0]
        self.assertTrue(self.invoice._check_payment_link_token(token))

    def test_overdue_route_checks_the_amount(self):
        overdue = self.init_invoice(
            "out_invoice",
            partner=self.client_contact,
            amounts=[60.0],
            taxes=[],
            company=self.company,
            invoice_date="2000-01-01",
        )
        overdue.invoice_date_due = "2000-01-31"
        overdue.action_post()
        self.assertLess(overdue.invoice_date_due, overdue.invoice_date.today())
        self.authenticate(self.portal_user.login, self.portal_user.login)
        for amount in (1.0, 60.01, -1, "abc"):
            with self.assertRaises(JsonRpcException, msg=str(amount)) as error:
                self.make_jsonrpc_request(
                    "/invoice/transaction/overdue",
                    {"payment_reference": "X", **self._tx_values(amount)},
                )
            self.assertIn("ValidationError", str(error.exception))
        self.assertFalse(overdue.transaction_ids)
        self.make_jsonrpc_request(
            "/invoice/transaction/overdue",
            {"payment_reference": "X", **self._tx_values(60.0)},
        )
        self.assertEqual(overdue.transaction_ids.amount, 60.0)
