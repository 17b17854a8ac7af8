from odoo.tests import JsonRpcException, tagged

from .common_portal import ClientPayHttpCommon


@tagged("post_install", "-at_install")
class TestPortalCreditRequest(ClientPayHttpCommon):
    """/my/credit_requests/<id> and /credit_request/transaction/<id>: who may
    see and pay what, and what the browser may send."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_request = cls._make_sent_request(500.0, partner=cls.other_client)

    def _tx_route(self, request):
        return f"/credit_request/transaction/{request.id}"

    def _pay(self, request, amount, access_token=None, **overrides):
        return self.make_jsonrpc_request(
            self._tx_route(request),
            {"access_token": access_token, **self._tx_values(amount, **overrides)},
        )

    def _txs(self, request):
        request.invalidate_recordset(["transaction_ids"])
        return request.transaction_ids

    def assertPlainNotFound(self, url):
        return super().assertPlainNotFound(url, "/my/credit_requests/999999999")

    def test_own_request_logged_in(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self._get(self.credit_request.access_url)
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.credit_request.name, response.text)
        self.assertIn('id="o_payment_form"', response.text)
        self.assertIn(
            f'data-transaction-route="{self._tx_route(self.credit_request)}"',
            response.text,
        )
        self.assertIn('id="discussion"', response.text)  # chatter
        pdf = self._get(f"{self.credit_request.access_url}?report_type=html")
        self.assertEqual(pdf.status_code, 200)

    def test_own_request_by_link_without_login(self):
        url = self.credit_request.get_secure_payment_url()
        self.assertTrue(url.startswith(self.credit_request.get_base_url()))
        response = self._get(url)
        self.assertEqual(response.status_code, 200)
        self.assertIn('id="o_payment_form"', response.text)
        raw = self.credit_request.access_token
        self.assertNotIn(
            raw, response.text, "The raw portal token never leaves the server"
        )
        report = self._get(url + "&report_type=html")
        self.assertEqual(report.status_code, 200)

    def test_chatter_through_the_link(self):
        request = self.credit_request
        message = request.message_post(
            body="Thank you for your order",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        token = request._get_payment_link_token()
        params = {
            "thread_model": "account.credit.request",
            "thread_id": request.id,
        }
        result = self.make_jsonrpc_request(
            "/mail/chatter_fetch", {**params, "token": token}
        )
        self.assertIn(message.id, result["messages"])
        issued, signature = token.split(".")
        flipped = "1" if signature.endswith("0") else "0"
        for bad in (f"{issued}.{signature[:-1]}{flipped}", request.access_token + "x"):
            with self.assertRaises(JsonRpcException):
                self.make_jsonrpc_request(
                    "/mail/chatter_fetch", {**params, "token": bad}
                )
        request.action_revoke_payment_link()
        with self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request("/mail/chatter_fetch", {**params, "token": token})

    def test_refused_links_are_the_same_plain_404(self):
        request = self.credit_request
        good = request._get_payment_link_token()
        issued, signature = good.split(".")
        tampered_signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        base = request.access_url
        for url in [
            base,  # no token, not logged in
            f"{base}?access_token=",
            f"{base}?access_token=wrong",
            f"{base}?access_token={issued}.{tampered_signature}",
            f"{base}?access_token={int(issued) + 1}.{signature}",
            f"{base}?access_token={request.access_token}",  # the raw portal token
            # Another client's valid link, on this document's id.
            f"{base}?access_token={self.other_request._get_payment_link_token()}",
            f"{base}?access_token={good}&report_type=pdf".replace(good, "x" + good),
        ]:
            self.assertPlainNotFound(url)
        # Expired: the company keeps links 10 days.
        self.company.payment_link_validity_days = 10
        self.assertPlainNotFound(
            f"{base}?access_token={self._expired_token(request, 11)}"
        )
        self.assertEqual(
            self._get(
                f"{base}?access_token={self._expired_token(request, 9)}"
            ).status_code,
            200,
        )
        # Revoked: every earlier link stops working.
        request.action_revoke_payment_link()
        self.assertPlainNotFound(f"{base}?access_token={good}")
        self.assertEqual(self._get(self._link_path(request)).status_code, 200)
        # A draft request does not exist for the client.
        draft = self._credit_request(50.0)
        self.assertPlainNotFound(self._link_path(draft))

    def test_another_clients_request(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.assertPlainNotFound(self.other_request.access_url)
        self.assertPlainNotFound(f"{self.other_request.access_url}?report_type=pdf")
        with self.assertRaises(JsonRpcException) as error:
            self._pay(self.other_request, 500.0)
        self.assertEqual(error.exception.code, 404)
        self.assertFalse(self._txs(self.other_request))

    def test_paid_and_cancelled_show_status_not_form(self):
        paid = self._make_sent_request(40.0)
        self._pay_request(paid)
        cancelled = self._make_sent_request(60.0)
        cancelled.action_cancel()
        for request, status in (
            (paid, "This credit request is paid"),
            (cancelled, "This credit request was cancelled"),
        ):
            response = self._get(self._link_path(request))
            self.assertEqual(response.status_code, 200)
            self.assertIn(status, response.text)
            self.assertNotIn('id="o_payment_form"', response.text)
            with self.assertRaises(JsonRpcException) as error:
                self._pay(request, 10.0, access_token=request._get_payment_link_token())
            self.assertIn("ValidationError", str(error.exception))
            self.assertFalse(self._txs(request))

    def test_csrf_on_post(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.url_open(
            self.credit_request.access_url, data={"foo": "bar"}, allow_redirects=False
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("CSRF", response.text)

    # ------------------------------------------------------------
    # Transaction route
    # ------------------------------------------------------------

    def test_transaction_logged_in(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        values = self._pay(self.credit_request, 300.0)
        tx = self._txs(self.credit_request)
        self.assertEqual(len(tx), 1)
        self.assertEqual(values["reference"], tx.reference)
        self.assertTrue(tx.reference.startswith(self.credit_request.name))
        self.assertEqual(tx.amount, 300.0)
        self.assertEqual(tx.currency_id, self.credit_request.currency_id)
        self.assertEqual(tx.partner_id, self.portal_user.partner_id)
        self.assertEqual(tx.landing_route, self.credit_request.access_url)
        self.assertEqual(tx.operation, "online_direct")

    def test_transaction_by_link_then_paid_raises_balance(self):
        token = self.credit_request._get_payment_link_token()
        self._pay(self.credit_request, 300.0, access_token=token)
        tx = self._txs(self.credit_request)
        self.assertEqual(tx.partner_id, self.client)
        self.assertIn(token, tx.landing_route)
        tx._set_done()
        tx._post_process()
        self.assertEqual(self.credit_request.state, "paid")
        self.assertAlmostEqual(self._balance(), 300.0)
        response = self._get(self._link_path(self.credit_request, token))
        self.assertIn("This credit request is paid", response.text)

    def test_transaction_refused_tokens(self):
        request = self.credit_request
        good = request._get_payment_link_token()
        bad_tokens = [None, "", "wrong", request.access_token, "x" + good]
        self.company.payment_link_validity_days = 1
        bad_tokens.append(self._expired_token(request, 2))
        for token in bad_tokens:
            with self.assertRaises(JsonRpcException) as error:
                self._pay(request, 300.0, access_token=token)
            self.assertEqual(error.exception.code, 404, token)
        request.action_revoke_payment_link()
        with self.assertRaises(JsonRpcException) as error:
            self._pay(request, 300.0, access_token=good)
        self.assertEqual(error.exception.code, 404)
        with self.assertRaises(JsonRpcException) as error:
            self.make_jsonrpc_request(
                "/credit_request/transaction/999999999",
                {"access_token": good, **self._tx_values(300.0)},
            )
        self.assertEqual(error.exception.code, 404)
        self.assertFalse(self._txs(request))

    def test_amount_tampering(self):
        token = self.credit_request._get_payment_link_token()
        for amount in (0, 0.0, -5.0, 300.01, 1e12, "abc", None, "NaN", 100.0):
            with self.assertRaises(JsonRpcException, msg=str(amount)) as error:
                self._pay(self.credit_request, amount, access_token=token)
            self.assertIn("ValidationError", str(error.exception))
        self.assertFalse(self._txs(self.credit_request))
        # The company allows partial payments: less is fine, more never.
        self.company.allow_partial_online_payment = True
        for amount in (0, -5.0, 300.01, "abc"):
            with self.assertRaises(JsonRpcException, msg=str(amount)):
                self._pay(self.credit_request, amount, access_token=token)
        self._pay(self.credit_request, "120.5", access_token=token)
        tx = self._txs(self.credit_request)
        self.assertEqual(tx.amount, 120.5)

    def test_injected_parameters_refused(self):
        token = self.credit_request._get_payment_link_token()
        for key, value in (
            ("partner_id", self.other_client.id),
            ("company_id", self.env.ref("base.main_company").id),
            ("currency_id", self.env.ref("base.EUR").id),
            ("reference", "HACKED"),
            ("reference_prefix", "HACKED"),
            ("invoice_ids", [1]),
            ("credit_request_ids", [self.other_request.id]),
            ("custom_create_values", {"amount": 1}),
        ):
            with self.assertRaises(JsonRpcException, msg=key) as error:
                self._pay(
                    self.credit_request, 300.0, access_token=token, **{key: value}
                )
            self.assertIn("BadRequest", str(error.exception), key)
        self.assertFalse(self._txs(self.credit_request))

    def test_provider_and_method_must_be_offered(self):
        token = self.credit_request._get_payment_link_token()
        disabled = self.provider.copy({"name": "Disabled", "state": "disabled"})
        for overrides in (
            {"provider_id": disabled.id},
            {"provider_id": 0},
            {"provider_id": "abc"},
            {
                "payment_method_id": self.env.ref(
                    "payment.payment_method_sepa_direct_debit"
                ).id
            },
        ):
            with self.assertRaises(JsonRpcException, msg=str(overrides)):
                self._pay(self.credit_request, 300.0, access_token=token, **overrides)
        self.assertFalse(self._txs(self.credit_request))

    def test_foreign_or_archived_token_refused(self):
        token = self.credit_request._get_payment_link_token()
        Token = self.env["payment.token"].sudo()
        foreign = Token.create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.pm_unknown.id,
                "partner_id": self.other_client.id,
                "provider_ref": "other",
                "payment_details": "1111",
            }
        )
        archived = Token.create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.pm_unknown.id,
                "partner_id": self.client.id,
                "provider_ref": "old",
                "payment_details": "2222",
                "active": False,
            }
        )
        for payment_token in (foreign, archived):
            with self.assertRaises(JsonRpcException):
                self._pay(
                    self.credit_request,
                    300.0,
                    access_token=token,
                    flow="token",
                    token_id=payment_token.id,
                    payment_method_id=None,
                )
        self.assertFalse(self._txs(self.credit_request))

    def test_validation_flag_cannot_change_the_amount(self):
        token = self.credit_request._get_payment_link_token()
        self._pay(self.credit_request, 300.0, access_token=token, is_validation=True)
        tx = self._txs(self.credit_request)
        self.assertEqual(tx.operation, "online_direct")
        self.assertEqual(tx.amount, 300.0)

    # ------------------------------------------------------------
    # List
    # ------------------------------------------------------------

    def test_list_shows_only_own_requests(self):
        paid = self._make_sent_request(40.0)
        self._pay_request(paid)
        self._credit_request(20.0)  # draft: not shown
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self._get("/my/credit_requests")
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.credit_request.name, response.text)
        self.assertIn(paid.name, response.text)
        self.assertNotIn(self.other_request.name, response.text)
        self.assertEqual(response.text.count("o_icp_credit_request_row"), 2)
        response = self._get("/my/credit_requests?filterby=paid&sortby=name")
        self.assertEqual(response.text.count("o_icp_credit_request_row"), 1)
        self.assertIn(paid.name, response.text)
        # The portal home's counter.
        counters = self.make_jsonrpc_request(
            "/my/counters", {"counters": ["credit_request_count"]}
        )
        self.assertTrue(counters["credit_request_count"])
        # Unknown filters and sortings fall back to the defaults.
        response = self._get("/my/credit_requests?filterby=x&sortby=y;drop")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.text.count("o_icp_credit_request_row"), 2)

    def test_list_requires_login(self):
        response = self._get("/my/credit_requests")
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])
