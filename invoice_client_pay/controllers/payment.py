import math
import re

from werkzeug.exceptions import NotFound

from odoo.exceptions import AccessError, MissingError, ValidationError
from odoo.fields import Command
from odoo.http import request, route

from odoo.addons.account_payment.controllers import payment as account_payment_portal

# A record id in a URL or a JSON body: ASCII digits only, within PostgreSQL's
# integer range (int() would take "²"-like Unicode digits, and "9" * 400).
RECORD_ID_RE = re.compile(r"[0-9]{1,10}")
MAX_RECORD_ID = 2**31 - 1
# The most documents a reminder's pay-all link may list.
MAX_PAY_ALL_ITEMS = 500


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

    def _document_check_access(self, model_name, document_id, access_token=None):
        """Odoo's check, for invoices and credit requests (documents with signed
        payment links): a valid signed link, or a logged-in user with read
        access. The raw portal token alone opens nothing (a link that never
        expires), and a malformed token (not a string, non-ASCII, Unicode
        digits, empty parts, huge numbers) is refused like a wrong one, never
        an error. A document opened through a link carries the link's issue
        time: links derived from it keep it (``_get_payment_link_token``)."""
        Document = request.env[model_name]
        if not isinstance(
            Document, Document.pool["invoice_client_pay.payment.link.mixin"]
        ):
            return super()._document_check_access(model_name, document_id, access_token)
        document_sudo = Document.sudo().browse([document_id]).exists()
        if not document_sudo:
            raise MissingError(request.env._("This document does not exist."))
        if document_sudo._check_payment_link_token(access_token):
            return document_sudo._with_payment_link_issued(access_token)
        Document.browse([document_id]).check_access("read")
        return document_sudo

    def _credit_request_check_access(self, request_id, access_token=None):
        """The credit request, sudoed, if the visitor may see it: through a valid
        signed link, or logged in with read access. Anything else - missing,
        draft, another client's, wrong, tampered, expired, revoked or malformed
        link, the raw portal token - is the same plain 404."""
        try:
            request_sudo = self._document_check_access(
                "account.credit.request", request_id, access_token
            )
        except (AccessError, MissingError) as error:
            raise NotFound() from error
        if not request_sudo._is_payment_link_visible():
            raise NotFound()
        return request_sudo

    def _invoice_check_access(self, invoice_id, access_token=None):
        """The invoice, sudoed, if the visitor may see it (see
        ``_document_check_access``); every failure is a plain 404."""
        try:
            return self._document_check_access("account.move", invoice_id, access_token)
        except (AccessError, MissingError) as error:
            raise NotFound() from error

    @staticmethod
    def _cast_as_record_id(value):
        """``value`` as a record id, or None when it is not one (see
        ``RECORD_ID_RE``)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not RECORD_ID_RE.fullmatch(value):
            return None
        record_id = int(value)
        return record_id if 0 < record_id <= MAX_RECORD_ID else None

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
        offered for this document: the check of Odoo's payment form
        (``_get_compatible_providers``: enabled or test, published for a
        non-employee, the document's company, currency; then the methods the
        provider offers). Checked before any transaction exists."""
        provider_id = self._cast_as_record_id(kwargs.get("provider_id"))
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
                .browse(self._cast_as_record_id(kwargs.get("token_id")) or [])
                .exists()
            )
            if (
                not token_sudo.active
                or token_sudo.provider_id.id != provider_id
                or token_sudo.partner_id.commercial_partner_id
                != partner.commercial_partner_id
            ):
                raise ValidationError(
                    request.env._("This payment method is not available.")
                )
            return
        method_id = self._cast_as_record_id(kwargs.get("payment_method_id"))
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

    def _parse_unpaid_items(self, items):
        """``inv-<id>`` / ``cr-<id>`` items as (invoice ids, request ids); any
        other item is a 404."""
        invoice_ids, request_ids = set(), set()
        for item in items:
            kind, __, raw_id = (item or "").partition("-")
            record_id = self._cast_as_record_id(raw_id)
            if kind == "inv" and record_id:
                invoice_ids.add(record_id)
            elif kind == "cr" and record_id:
                request_ids.add(record_id)
            else:
                raise NotFound()
        return invoice_ids, request_ids

    def _get_selected_unpaid_items(self, items):
        """Parse ``inv-<id>`` / ``cr-<id>`` items into the logged-in client's open
        invoices and credit requests (sudoed). Any item that is not one of them
        is a 404."""
        invoice_ids, request_ids = self._parse_unpaid_items(items)
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
        return self._create_several_documents_transaction(
            kwargs, invoices_sudo, requests_sudo, request.env.user.partner_id, "/my"
        )

    def _create_several_documents_transaction(
        self, kwargs, invoices_sudo, requests_sudo, partner_sudo, landing_route
    ):
        """One transaction paying exactly what is still to pay on the invoices
        and credit requests (sudoed), in their one currency and company, for
        ``partner_sudo``; the payment form's values checked first."""
        self._validate_transaction_kwargs(kwargs)
        documents = list(invoices_sudo) + list(requests_sudo)
        if not documents:
            raise ValidationError(request.env._("Everything here is paid already."))
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
        self._check_provider(kwargs, company, partner_sudo, amount, currency)
        reference_prefix = None
        if len(documents) > 1:
            reference_prefix = company.get_next_batch_payment_communication()
        return self._create_document_transaction(
            kwargs,
            amount,
            currency,
            partner_sudo,
            landing_route,
            {
                "invoice_ids": [Command.set(invoices_sudo.ids)],
                "credit_request_ids": [Command.set(requests_sudo.ids)],
            },
            reference_prefix=reference_prefix,
        )

    # === PAY ALL: THE SIGNED LINK OF A REMINDER === #

    def _pay_all_link_check_access(self, partner_id, items, access_token):
        """The client (sudoed) a reminder's pay-all link was made for, and those
        of the listed invoices and credit requests that are still its own and
        still payable (sudoed; paid ones are gone). A wrong, tampered, expired
        or revoked link, or junk items, are a plain 404.

        :return: (client, invoices, credit requests, the signed items)
        """
        item_list = sorted({item for item in (items or "").split(",") if item})
        if not item_list or len(item_list) > MAX_PAY_ALL_ITEMS:
            raise NotFound()
        invoice_ids, request_ids = self._parse_unpaid_items(item_list)
        partner_sudo = request.env["res.partner"].sudo().browse(partner_id).exists()
        if not partner_sudo:
            raise NotFound()
        Move = request.env["account.move"].sudo()
        CreditRequest = request.env["account.credit.request"].sudo()
        companies = (
            Move.browse(invoice_ids).exists().company_id
            | CreditRequest.browse(request_ids).exists().company_id
        )
        if not partner_sudo._check_pay_all_token(access_token, item_list, companies):
            raise NotFound()
        commercial_partner = partner_sudo.commercial_partner_id
        invoices_sudo = Move.search(
            [
                ("id", "in", list(invoice_ids)),
                ("commercial_partner_id", "=", commercial_partner.id),
                *Move._get_client_payable_domain(),
            ],
            order="invoice_date_due, invoice_date, id",
        )
        requests_sudo = CreditRequest.search(
            [
                ("id", "in", list(request_ids)),
                ("commercial_partner_id", "=", commercial_partner.id),
                *CreditRequest._get_client_payable_domain(),
            ],
            order="date_due, date, id",
        )
        return partner_sudo, invoices_sudo, requests_sudo, item_list

    @route(
        "/my/unpaid/link/<int:partner_id>/transaction/<string:items>",
        type="jsonrpc",
        auth="public",
    )
    def pay_all_link_transaction(self, partner_id, items, access_token=None, **kwargs):
        """Create one transaction paying what a reminder's pay-all link lists
        and is still unpaid, for exactly its total (no partial payment).

        :param int partner_id: the client the link was made for
        :param str items: the link's items (``inv-<id>``, ``cr-<id>``)
        :param str access_token: the link's signed token
        :param dict kwargs: the payment form's values (whitelisted)
        """
        partner_sudo, invoices_sudo, requests_sudo, item_list = (
            self._pay_all_link_check_access(partner_id, items, access_token)
        )
        return self._create_several_documents_transaction(
            kwargs,
            invoices_sudo,
            requests_sudo,
            self._get_payment_partner(partner_sudo),
            partner_sudo._get_pay_all_path(item_list, access_token),
        )

    # === INVOICES (Odoo's route, hardened) === #

    @route()
    def invoice_transaction(self, invoice_id, access_token, **kwargs):
        invoice_sudo = self._invoice_check_access(invoice_id, access_token)
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
        return super().invoice_transaction(invoice_id, access_token, **kwargs)

    @route()
    def overdue_invoices_transaction(self, payment_reference=None, **kwargs):
        """Odoo's "pay all overdue invoices": the amount must be their total,
        and the reference is the server's (the browser's ``payment_reference``,
        any value, is not used), as for paying several items at once."""
        if not request.env.user._is_public():
            overdue_invoices = request.env["account.move"].search(
                self._get_overdue_invoices_domain()
            )
            if not overdue_invoices:
                raise ValidationError(request.env._("You have no overdue invoice."))
            currency = overdue_invoices[:1].currency_id
            companies = overdue_invoices.company_id
            if len(companies) > 1 or len(overdue_invoices.currency_id) > 1:
                raise ValidationError(
                    request.env._(
                        "Your overdue invoices are in different currencies or "
                        "companies: pay them separately."
                    )
                )
            kwargs["amount"] = self._check_online_amount(
                kwargs.get("amount"),
                sum(overdue_invoices.mapped("amount_residual")),
                currency,
            )
            self._check_provider(
                kwargs,
                companies,
                request.env.user.partner_id,
                kwargs["amount"],
                currency,
            )
            kwargs["is_validation"] = False
            payment_reference = (
                companies.get_next_batch_payment_communication()
                if len(overdue_invoices) > 1
                else None
            )
        return super().overdue_invoices_transaction(payment_reference, **kwargs)

    # === ODOO'S /payment/pay FOR AN INVOICE === #

    def _get_extra_payment_form_values(
        self, invoice_id=None, access_token=None, **kwargs
    ):
        """Odoo's form hands the invoice's raw portal token to the browser (to
        pay, and in the landing route): it gets a signed link instead."""
        form_values = super()._get_extra_payment_form_values(
            invoice_id=invoice_id, access_token=access_token, **kwargs
        )
        invoice_id = self._cast_as_record_id(invoice_id)
        if invoice_id and "transaction_route" in form_values:
            invoice_sudo = request.env["account.move"].sudo().browse(invoice_id)
            form_values.update(
                {
                    "landing_route": invoice_sudo._get_payment_link_path(),
                    "access_token": invoice_sudo._get_payment_link_token(),
                }
            )
        return form_values
