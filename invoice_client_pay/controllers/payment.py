import math

from werkzeug.exceptions import NotFound

from odoo.exceptions import AccessError, MissingError, ValidationError
from odoo.fields import Command
from odoo.http import request, route

from odoo.addons.account_payment.controllers import payment as account_payment_portal


class ClientPayPaymentPortal(account_payment_portal.PaymentPortal):
    """Transaction routes of client payments.

    - `/credit_request/transaction/<id>` (JSON-RPC) creates the transaction of a
      credit request, like Odoo's `/invoice/transaction/<id>` for an invoice.
    - `/my/unpaid/transaction/<items>` (JSON-RPC, logged in) creates one
      transaction paying several invoices and credit requests at once.
    - `/invoice/transaction/<id>` (Odoo's) also accepts a signed payment link
      and checks the amount against what is still to pay.

    Partner, currency, company and amount come from the documents; the only
    client values that reach a transaction are the payment form's whitelisted
    ones (provider, method, token, flow, tokenization), each checked.
    """

    # === ACCESS === #

    def _credit_request_check_access(self, request_id, access_token=None):
        """The credit request, sudoed, if the visitor may see it: through a valid
        signed link, or logged in with read access. Anything else - missing,
        draft, another client's, wrong, tampered, expired or revoked link - is
        the same plain 404."""
        request_sudo = (
            request.env["account.credit.request"].sudo().browse(request_id).exists()
        )
        if not request_sudo or not request_sudo._is_payment_link_visible():
            raise NotFound()
        if access_token and request_sudo._check_payment_link_token(access_token):
            return request_sudo
        if request.env.user._is_public():
            raise NotFound()
        if not (
            request.env["account.credit.request"].browse(request_id).has_access("read")
        ):
            raise NotFound()
        return request_sudo

    def _invoice_check_access(self, invoice_id, access_token=None):
        """Like Odoo's document check, but a signed link is checked (and
        exchanged for the portal token Odoo's routes expect), and every failure
        is a plain 404. :return: (invoice sudo, portal access token or None)"""
        Move = request.env["account.move"]
        if access_token and Move._is_payment_link_token(access_token):
            invoice_sudo = Move.sudo().browse(invoice_id).exists()
            if not invoice_sudo or not invoice_sudo._check_payment_link_token(
                access_token
            ):
                raise NotFound()
            return invoice_sudo, invoice_sudo.access_token
        try:
            invoice_sudo = self._document_check_access(
                "account.move", invoice_id, access_token
            )
        except (AccessError, MissingError) as error:
            raise NotFound() from error
        return invoice_sudo, access_token

    # === CHECKS === #

    def _check_online_amount(self, amount, due, currency, allowed=(), partial=False):
        """Refuse what the browser may send that is not right: missing,
        non-numeric, zero, negative, more than still to pay, or less when partial
        payments are off (except the document's own ``allowed`` amounts)."""
        amount = self._cast_as_float(amount)
        if (
            amount is None
            or not math.isfinite(amount)
            or currency.compare_amounts(amount, 0) <= 0
        ):
            raise ValidationError(request.env._("The amount to pay must be positive."))
        if currency.compare_amounts(amount, due) > 0:
            raise ValidationError(
                request.env._(
                    "You cannot pay more than %(due)s.", due=currency.format(due)
                )
            )
        exact = [due, *allowed]
        if not partial and all(
            currency.compare_amounts(amount, value) != 0 for value in exact
        ):
            raise ValidationError(
                request.env._("The amount to pay must be %s.", currency.format(due))
            )
        return currency.round(amount)

    def _check_provider(self, kwargs, company, partner, amount, currency):
        """The chosen provider, method and token must be ones the payment form
        offered for this document."""
        provider_id = self._cast_as_int(kwargs.get("provider_id"))
        providers_sudo = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                company.id, partner.id, amount, currency_id=currency.id
            )
        )
        if not provider_id or provider_id not in providers_sudo.ids:
            raise ValidationError(
                request.env._("This payment method is not available.")
            )
        if kwargs.get("flow") == "token":
            token_sudo = (
                request.env["payment.token"]
                .sudo()
                .browse(self._cast_as_int(kwargs.get("token_id")) or [])
                .exists()
            )
            if not token_sudo.active or token_sudo.provider_id.id != provider_id:
                raise ValidationError(
                    request.env._("This payment method is not available.")
                )
            return
        method_id = self._cast_as_int(kwargs.get("payment_method_id"))
        methods_sudo = (
            request.env["payment.method"]
            .sudo()
            ._get_compatible_payment_methods(
                [provider_id], partner.id, currency_id=currency.id
            )
        )
        if not method_id or method_id not in methods_sudo.ids:
            raise ValidationError(
                request.env._("This payment method is not available.")
            )

    def _get_payment_partner(self, document_partner):
        """Odoo's rule: a logged-in client pays as themself (tokens are theirs);
        a visitor through a link pays as the document's client."""
        user = request.env.user
        if not user._is_public() and (
            user.partner_id.commercial_partner_id
            == document_partner.commercial_partner_id
        ):
            return user.partner_id
        return document_partner

    def _get_payment_form_values(
        self,
        partner_sudo,
        company,
        amount,
        currency,
        transaction_route,
        landing_route,
        access_token=None,
    ):
        """The values Odoo's payment form (``payment.form``) needs to pay
        ``amount`` as ``partner_sudo`` in ``company``."""
        availability_report = {}
        providers_sudo = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                company.id,
                partner_sudo.id,
                amount,
                currency_id=currency.id,
                report=availability_report,
            )
        )
        payment_methods_sudo = (
            request.env["payment.method"]
            .sudo()
            ._get_compatible_payment_methods(
                providers_sudo.ids,
                partner_sudo.id,
                currency_id=currency.id,
                report=availability_report,
            )
        )
        tokens_sudo = (
            request.env["payment.token"]
            .sudo()
            ._get_available_tokens(providers_sudo.ids, partner_sudo.id)
        )
        return {
            "company_mismatch": not self._can_partner_pay_in_company(
                partner_sudo, company
            ),
            "expected_company": company,
            "show_tokenize_input_mapping": self._compute_show_tokenize_input_mapping(
                providers_sudo
            ),
            "amount": amount,
            "currency": currency,
            "partner_id": partner_sudo.id,
            "providers_sudo": providers_sudo,
            "payment_methods_sudo": payment_methods_sudo,
            "tokens_sudo": tokens_sudo,
            "availability_report": availability_report,
            "transaction_route": transaction_route,
            "landing_route": landing_route,
            "access_token": access_token,
        }

    def _create_document_transaction(
        self,
        kwargs,
        amount,
        currency,
        partner_sudo,
        landing_route,
        link_values,
        reference_prefix=None,
    ):
        """Create the draft transaction of a client payment and return its
        processing values. Partner, currency, amount, landing route and
        documents (``link_values``) come from the server, never from the
        payment form, whose other values were checked before."""
        kwargs.update(
            {
                "amount": amount,
                "currency_id": currency.id,
                "partner_id": partner_sudo.id,
                "landing_route": landing_route,
                "is_validation": False,
                "reference_prefix": reference_prefix,
            }
        )
        tx_sudo = self._create_transaction(custom_create_values=link_values, **kwargs)
        return tx_sudo._get_processing_values()

    @staticmethod
    def _get_documents_total(documents):
        """``(currency, company, total still to pay)`` of invoices and credit
        requests (sudoed) in one currency and company; None when they are not."""
        first = documents[0]
        if any(
            doc.currency_id != first.currency_id or doc.company_id != first.company_id
            for doc in documents
        ):
            return None
        currency = first.currency_id
        total = currency.round(sum(doc.amount_residual for doc in documents))
        return currency, first.company_id, total

    # === CREDIT REQUESTS === #

    @route(
        "/credit_request/transaction/<int:request_id>", type="jsonrpc", auth="public"
    )
    def credit_request_transaction(self, request_id, access_token=None, **kwargs):
        """Create a draft transaction for a credit request and return its
        processing values.

        :param int request_id: the credit request, an `account.credit.request` id
        :param str access_token: the signed payment link token (not needed when
            logged in with access to the request)
        :param dict kwargs: the payment form's values (whitelisted)
        """
        request_sudo = self._credit_request_check_access(request_id, access_token)
        self._validate_transaction_kwargs(kwargs)
        if not request_sudo._is_client_payable():
            raise ValidationError(
                request.env._("This credit request cannot be paid anymore.")
            )
        currency = request_sudo.currency_id
        company = request_sudo.company_id
        amount = self._check_online_amount(
            kwargs.get("amount"),
            request_sudo.amount_residual,
            currency,
            partial=company.allow_partial_online_payment,
        )
        partner_sudo = self._get_payment_partner(request_sudo.partner_id)
        self._check_provider(kwargs, company, partner_sudo, amount, currency)
        landing_route = request_sudo.access_url
        if access_token:
            landing_route += f"?access_token={access_token}"
        return self._create_document_transaction(
            kwargs,
            amount,
            currency,
            partner_sudo,
            landing_route,
            {"credit_request_ids": [Command.set(request_sudo.ids)]},
        )

    # === PAY SEVERAL AT ONCE === #

    @staticmethod
    def _get_unpaid_item(document):
        """``inv-<id>`` or ``cr-<id>``: how the panel and the checkout name a
        document (see ``_get_selected_unpaid_items``)."""
        prefix = "inv" if document._name == "account.move" else "cr"
        return f"{prefix}-{document.id}"

    def _get_selected_unpaid_items(self, items):
        """Parse ``inv-<id>`` / ``cr-<id>`` items into the logged-in client's open
        invoices and credit requests (sudoed). Any item that is not one of them
        is a 404."""
        invoice_ids, request_ids = set(), set()
        for item in items:
            kind, __, raw_id = (item or "").partition("-")
            record_id = self._cast_as_int(raw_id)
            if kind == "inv" and record_id:
                invoice_ids.add(record_id)
            elif kind == "cr" and record_id:
                request_ids.add(record_id)
            else:
                raise NotFound()
        if not invoice_ids and not request_ids:
            raise NotFound()
        invoices_sudo, requests_sudo = self._get_unpaid_documents(
            [("id", "in", list(invoice_ids))], [("id", "in", list(request_ids))]
        )
        if len(invoices_sudo) != len(invoice_ids) or len(requests_sudo) != len(
            request_ids
        ):
            raise NotFound()
        return invoices_sudo, requests_sudo

    def _get_unpaid_documents(self, invoice_domain=(), request_domain=()):
        """The logged-in client's payable invoices (in the companies they are
        logged in) and credit requests (that they may read), sudoed, oldest
        due first."""
        commercial_partner = request.env.user.partner_id.commercial_partner_id
        Move = request.env["account.move"].sudo()
        invoices_sudo = Move.search(
            [
                *invoice_domain,
                ("company_id", "in", request.env.companies.ids),
                ("commercial_partner_id", "=", commercial_partner.id),
                *Move._get_client_payable_domain(),
            ],
            order="invoice_date_due, invoice_date, id",
        )
        CreditRequest = request.env["account.credit.request"]
        requests_sudo = CreditRequest.sudo()
        if CreditRequest.has_access("read"):
            requests_sudo = CreditRequest.search(
                [
                    *request_domain,
                    ("commercial_partner_id", "=", commercial_partner.id),
                    *CreditRequest._get_client_payable_domain(),
                ],
                order="date_due, date, id",
            ).sudo()
        return invoices_sudo, requests_sudo

    @route("/my/unpaid/transaction/<string:items>", type="jsonrpc", auth="user")
    def unpaid_items_transaction(self, items, access_token=None, **kwargs):
        """Create one transaction paying several invoices and credit requests,
        for exactly what is still to pay on them (no partial payment)."""
        invoices_sudo, requests_sudo = self._get_selected_unpaid_items(items.split(","))
        self._validate_transaction_kwargs(kwargs)
        documents = list(invoices_sudo) + list(requests_sudo)
        documents_total = self._get_documents_total(documents)
        if not documents_total:
            raise ValidationError(
                request.env._(
                    "These documents are in different currencies or companies: "
                    "pay them separately."
                )
            )
        currency, company, total = documents_total
        amount = self._check_online_amount(kwargs.get("amount"), total, currency)
        partner_sudo = request.env.user.partner_id
        self._check_provider(kwargs, company, partner_sudo, amount, currency)
        reference_prefix = None
        if len(documents) > 1:
            reference_prefix = company.get_next_batch_payment_communication()
        return self._create_document_transaction(
            kwargs,
            amount,
            currency,
            partner_sudo,
            "/my",
            {
                "invoice_ids": [Command.set(invoices_sudo.ids)],
                "credit_request_ids": [Command.set(requests_sudo.ids)],
            },
            reference_prefix=reference_prefix,
        )

    # === INVOICES (Odoo's route, hardened) === #

    @route()
    def invoice_transaction(self, invoice_id, access_token, **kwargs):
        invoice_sudo, portal_token = self._invoice_check_access(
            invoice_id, access_token
        )
        if not invoice_sudo._is_client_payable():
            raise ValidationError(request.env._("This invoice cannot be paid anymore."))
        currency = invoice_sudo.currency_id
        next_payment = invoice_sudo._get_invoice_next_payment_values()
        allowed = [
            next_payment[key]
            for key in ("amount_due", "next_amount_to_pay")
            if next_payment.get(key)
        ]
        kwargs["amount"] = self._check_online_amount(
            kwargs.get("amount"),
            invoice_sudo.amount_residual,
            currency,
            allowed=allowed,
            partial=invoice_sudo.company_id.allow_partial_online_payment,
        )
        self._check_provider(
            kwargs,
            invoice_sudo.company_id,
            self._get_payment_partner(invoice_sudo.partner_id),
            kwargs["amount"],
            currency,
        )
        kwargs["is_validation"] = False
        return super().invoice_transaction(invoice_id, portal_token, **kwargs)

    @route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Odoo's "pay all overdue invoices": the amount must be their total."""
        if not request.env.user._is_public():
            overdue_invoices = request.env["account.move"].search(
                self._get_overdue_invoices_domain()
            )
            if not overdue_invoices:
                raise ValidationError(request.env._("You have no overdue invoice."))
            kwargs["amount"] = self._check_online_amount(
                kwargs.get("amount"),
                sum(overdue_invoices.mapped("amount_residual")),
                overdue_invoices[:1].currency_id,
            )
            kwargs["is_validation"] = False
        return super().overdue_invoices_transaction(payment_reference, **kwargs)
