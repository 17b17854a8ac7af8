import re

from odoo.tests import JsonRpcException, tagged

from .common_portal import ClientPayHttpCommon


@tagged("post_install", "-at_install")
class TestPortalPaySeveral(ClientPayHttpCommon):
    """The /my panel and paying several items at once (/my/unpaid/pay and
    /my/unpaid/transaction/<items>)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        cls.invoice_1 = cls._invoice_cls(100.0)
        cls.invoice_2 = cls._invoice_cls(50.0)
        cls.other_invoice = cls._invoice_cls(80.0, partner=cls.other_client)
        cls.other_request = cls._make_sent_request(500.0, partner=cls.other_client)

    @classmethod
    def _invoice_cls(cls, amount, partner=None, **values):
        return cls.init_invoice(
            "out_invoice",
            partner=partner or cls.client,
            amounts=[amount],
            taxes=[],
            company=cls.company,
            post=True,
            **values,
        )

    def _items(self, *records):
        return ",".join(
            f"{'inv' if r._name == 'account.move' else 'cr'}-{r.id}" for r in records
        )

    def _pay(self, items, amount, **overrides):
        return self.make_jsonrpc_request(
            f"/my/unpaid/transaction/{items}", self._tx_values(amount, **overrides)
        )

    def _last_tx(self):
        return self.env["payment.transaction"].search([], order="id desc", limit=1)

    # ------------------------------------------------------------
    # Panel
    # ------------------------------------------------------------

    def test_panel_lists_open_items_and_balance(self):
        self._add_credit(40.0)
        paid_request = self.env["account.credit.request"].search(
            [("state", "=", "paid")], limit=1
        )
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self._get("/my")
        self.assertEqual(response.status_code, 200)
        html = response.text
        self.assertTrue('id="o_icp_unpaid_panel"' in html)
        self.assertTrue("Unpaid Invoices" in html)
        for record in (self.invoice_1, self.invoice_2, self.credit_request):
            self.assertTrue(record.name in html, record.name)
        for record in (self.other_invoice, self.other_request, paid_request):
            self.assertFalse(f">{record.name}<" in html, record.name)
        self.assertEqual(html.count("o_icp_unpaid_invoice"), 2)
        self.assertEqual(html.count("o_icp_unpaid_credit_request"), 1)
        self.assertEqual(html.count("o_icp_pay_now"), 3)
        self.assertIn(f"/my/unpaid/pay?items=inv-{self.invoice_1.id}", html)
        balance = re.search(
            r"o_icp_credit_balance.*?<strong[^>]*>(.*?)</strong>", html, re.S
        )
        self.assertIn("40.00", balance.group(1))

    def test_panel_queries_do_not_grow_with_documents(self):
        """Two more invoices and requests: the same number of queries."""
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self._get("/my")  # warm up caches

        def count_queries():
            before = self.cr.sql_log_count
            self.assertEqual(self._get("/my").status_code, 200)
            return self.cr.sql_log_count - before

        baseline = count_queries()
        self.assertGreater(baseline, 0)
        self._invoice_cls(10.0)
        self._invoice_cls(20.0)
        self._make_sent_request(30.0)
        self._make_sent_request(35.0)
        self.env.flush_all()
        self.assertEqual(count_queries(), baseline)

    def test_panel_shows_the_most_urgent_and_links_the_full_list(self):
        """With more items than the panel shows: the most urgent (oldest due
        first) are listed, the count and total of all are given, and /my/unpaid
        pages through every one of them."""
        extra = self.env["account.move"]
        for day in range(1, 12):
            invoice = self.init_invoice(
                "out_invoice",
                partner=self.client,
                amounts=[10.0],
                taxes=[],
                company=self.company,
                invoice_date=f"2018-01-{day:02d}",
            )
            invoice.invoice_date_due = f"2018-02-{day:02d}"
            invoice.action_post()
            extra |= invoice
        # 11 dated invoices + 2 invoices and 1 request due later: 14 items.
        self.authenticate(self.portal_user.login, self.portal_user.login)
        html = self._get("/my").text
        self.assertEqual(html.count("o_icp_pay_now"), 10)
        for invoice in extra[:10]:
            self.assertIn(f"items=inv-{invoice.id}", html)
        self.assertNotIn(f"items=inv-{extra[10].id}", html)
        self.assertNotIn(f"items=cr-{self.credit_request.id}", html)
        more = re.search(r"o_icp_unpaid_more.*?</div>", html, re.S).group(0)
        self.assertIn("14", more)
        total = sum((extra | self.invoice_1 | self.invoice_2).mapped("amount_residual"))
        total += self.credit_request.amount_residual
        self.assertIn(f"{total:,.2f}", more)
        self.assertIn('href="/my/unpaid"', more)

        page_1 = self._get("/my/unpaid").text
        self.assertEqual(page_1.count("o_icp_pay_now"), 14)
        self.assertIn(f"{total:,.2f}", page_1)
        for record in (*extra, self.invoice_1, self.invoice_2, self.credit_request):
            prefix = "inv" if record._name == "account.move" else "cr"
            self.assertIn(f"items={prefix}-{record.id}", page_1)
        self.assertNotIn(f"inv-{self.other_invoice.id}", page_1)
        self.assertNotIn(f"cr-{self.other_request.id}", page_1)

    def test_panel_totals_each_currency_apart(self):
        """What is still to pay is totalled per currency, never added across
        currencies."""
        self._invoice_cls(70.0, currency=self.setup_other_currency("EUR"))
        self.authenticate(self.portal_user.login, self.portal_user.login)
        summary = re.search(
            r'class="o_icp_unpaid_summary">(.*?)</p>', self._get("/my/unpaid").text
        ).group(1)
        own = self.invoice_1.amount_residual + self.invoice_2.amount_residual
        own += sum(
            self.env["account.credit.request"]
            .search([("partner_id", "=", self.client.id), ("state", "=", "sent")])
            .mapped("amount_residual")
        )
        self.assertIn(f"{own:,.2f}", summary)
        self.assertIn("70.00", summary)
        self.assertNotIn(f"{own + 70.0:,.2f}", summary)

    def test_full_list_is_paged(self):
        for __ in range(20):
            self._make_sent_request(5.0)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        # 2 invoices + 21 requests: 20 on the first page, 3 on the second.
        page_1 = self._get("/my/unpaid").text
        self.assertEqual(page_1.count("o_icp_pay_now"), 20)
        self.assertIn('href="/my/unpaid/page/2"', page_1)  # the pager
        page_2 = self._get("/my/unpaid/page/2")
        self.assertEqual(page_2.status_code, 200)
        self.assertEqual(page_2.text.count("o_icp_pay_now"), 3)
        self.assertIn('href="/my/unpaid"', page_2.text)

    def test_full_list_needs_a_login(self):
        response = self.url_open("/my/unpaid", allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    # ------------------------------------------------------------
    # Checkout
    # ------------------------------------------------------------

    def test_checkout_and_pay_several(self):
        items = self._items(self.invoice_1, self.invoice_2, self.credit_request)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self._get(f"/my/unpaid/pay?items={items}")
        self.assertEqual(response.status_code, 200)
        html = response.text
        self.assertTrue('id="o_payment_form"' in html)
        self.assertTrue('data-amount="450.0"' in html)
        route = f'data-transaction-route="/my/unpaid/transaction/{items}"'
        self.assertTrue(route in html, route)
        # Ticking the boxes sends each item as its own "items" parameter.
        response = self._get(
            f"/my/unpaid/pay?items=inv-{self.invoice_1.id}&items=cr-{self.credit_request.id}"
        )
        self.assertTrue('data-amount="400.0"' in response.text)

        self._pay(items, 450.0)
        tx = self._last_tx()
        self.assertEqual(tx.invoice_ids, self.invoice_1 + self.invoice_2)
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertEqual(tx.amount, 450.0)
        self.assertEqual(tx.partner_id, self.portal_user.partner_id)
        tx._set_done()
        tx._post_process()
        self.assertEqual(self.invoice_1.payment_state, "paid")
        self.assertEqual(self.invoice_2.payment_state, "paid")
        self.assertEqual(self.credit_request.state, "paid")
        self.assertAlmostEqual(self._balance(), 300.0)
        payments = self._tx_payments(tx)
        self.assertEqual(len(payments), 2)
        tx.is_post_processed = False
        tx._post_process()
        self.assertEqual(self._tx_payments(tx), payments)
        self.assertLedgerConsistent()
        # Paid items are no longer payable.
        with self.assertRaises(JsonRpcException) as error:
            self._pay(items, 450.0)
        self.assertEqual(error.exception.code, 404)

    def test_pay_now_single_item(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        items = self._items(self.credit_request)
        response = self._get(f"/my/unpaid/pay?items={items}")
        self.assertTrue('data-amount="300.0"' in response.text)
        self._pay(items, 300.0)
        tx = self._last_tx()
        self.assertEqual(tx.credit_request_ids, self.credit_request)
        self.assertTrue(tx.reference.startswith(self.credit_request.name))

    def test_amount_must_be_the_total(self):
        self.company.allow_partial_online_payment = True  # not for several items
        items = self._items(self.invoice_1, self.credit_request)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        txs_before = self.env["payment.transaction"].search_count([])
        for amount in (0, -1.0, 399.99, 400.01, "abc", None):
            with self.assertRaises(JsonRpcException, msg=str(amount)) as error:
                self._pay(items, amount)
            self.assertIn("ValidationError", str(error.exception))
        self.assertEqual(self.env["payment.transaction"].search_count([]), txs_before)

    def test_foreign_or_bad_items_are_404(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        for items in (
            self._items(self.invoice_1, self.other_invoice),
            self._items(self.other_request),
            f"inv-{self.invoice_1.id},cr-999999",
            "inv-abc",
            "foo-1",
            "",
        ):
            self.assertEqual(
                self._get(f"/my/unpaid/pay?items={items}").status_code, 404, items
            )
            if items:
                with self.assertRaises(JsonRpcException) as error:
                    self._pay(items, 1.0)
                self.assertEqual(error.exception.code, 404, items)
        draft = self._credit_request(10.0)
        self.assertEqual(
            self._get(f"/my/unpaid/pay?items={self._items(draft)}").status_code, 404
        )

    def test_injected_parameters_refused(self):
        items = self._items(self.invoice_1)
        self.authenticate(self.portal_user.login, self.portal_user.login)
        for key, value in (
            ("partner_id", self.other_client.id),
            ("company_id", 1),
            ("currency_id", 1),
            ("reference_prefix", "X"),
            ("invoice_ids", [self.other_invoice.id]),
        ):
            with self.assertRaises(JsonRpcException, msg=key) as error:
                self._pay(items, 100.0, **{key: value})
            self.assertIn("BadRequest", str(error.exception))

    def test_requires_login(self):
        items = self._items(self.invoice_1)
        response = self._get(f"/my/unpaid/pay?items={items}")
        self.assertEqual(response.status_code, 303)
        with self.assertRaises(JsonRpcException):
            self._pay(items, 100.0)

    def test_get_only(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.url_open(
            "/my/unpaid/pay", data={"items": self._items(self.invoice_1)}
        )
        self.assertIn(response.status_code, (400, 405))
