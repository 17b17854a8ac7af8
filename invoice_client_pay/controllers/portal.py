from collections import OrderedDict

from odoo import fields
from odoo.http import request, route
from odoo.tools.misc import format_amount, format_date

from odoo.addons.account_payment.controllers.portal import PortalAccount
from odoo.addons.portal.controllers.portal import pager as portal_pager

from ..models.account_credit_request_portal import PAYABLE_STATES, PORTAL_STATES
from .payment import ClientPayPaymentPortal


class ClientPayPortal(PortalAccount, ClientPayPaymentPortal):
    """Client pages of the portal.

    - `/my` (Odoo's) gets the "Unpaid Invoices & Credit Requests" panel.
    - `/my/credit_requests` lists the client's credit requests (pager, sorting,
      filters).
    - `/my/credit_requests/<id>` shows one, with Pay Now, chatter and PDF;
      without login through a signed payment link (`access_token`).
    - `/my/unpaid/pay` is the checkout of the items ticked in the panel.
    - `/my/invoices/<id>` (Odoo's) also opens through a signed payment link, and
      answers a plain 404 to anything it refuses.
    """

    # ------------------------------------------------------------
    # HOME PANEL
    # ------------------------------------------------------------

    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        if "credit_request_count" in counters:
            CreditRequest = request.env["account.credit.request"]
            values["credit_request_count"] = (
                CreditRequest.search_count(self._get_credit_requests_domain(), limit=1)
                if CreditRequest.has_access("read")
                else 0
            )
        return values

    @route()
    def home(self, **kw):
        response = super().home(**kw)
        qcontext = getattr(response, "qcontext", None)
        if qcontext is not None:  # a page still to render, not a redirection
            qcontext.update(self._prepare_unpaid_panel_values())
        return response

    def _prepare_unpaid_panel_values(self):
        """The client's open invoices and credit requests, and credit balance.

        A fixed number of queries whatever the number of documents: two searches,
        batched prefetching of their fields, one grouped balance query.
        """
        user = request.env.user
        commercial_partner = user.partner_id.commercial_partner_id
        Move = request.env["account.move"].sudo()
        invoices_sudo = Move.search(
            [
                ("company_id", "in", request.env.companies.ids),
                *Move._get_client_unpaid_invoice_domain(commercial_partner),
            ],
            order="invoice_date_due, invoice_date, id",
        )
        CreditRequest = request.env["account.credit.request"]
        requests = (
            CreditRequest.search(
                [
                    ("commercial_partner_id", "=", commercial_partner.id),
                    ("state", "in", PAYABLE_STATES),
                    ("amount_residual", ">", 0),
                ],
                order="date_due, date, id",
            )
            if CreditRequest.has_access("read")
            else CreditRequest
        )
        company = request.env.company
        balance = commercial_partner.sudo().with_company(company).client_credit_balance
        env = request.env
        today = fields.Date.context_today(user)
        rows = [
            {
                "item": f"inv-{invoice.id}",
                "kind": "invoice",
                "name": invoice.name,
                "url": invoice.access_url,
                "date": format_date(env, invoice.invoice_date),
                "date_due": format_date(env, invoice.invoice_date_due),
                "overdue": bool(
                    invoice.invoice_date_due and invoice.invoice_date_due < today
                ),
                "amount": format_amount(
                    env, invoice.amount_residual, invoice.currency_id
                ),
            }
            for invoice in invoices_sudo
        ] + [
            {
                "item": f"cr-{credit_request.id}",
                "kind": "credit_request",
                "name": credit_request.name,
                "url": credit_request.access_url,
                "date": format_date(env, credit_request.date),
                "date_due": format_date(env, credit_request.date_due),
                "overdue": bool(
                    credit_request.date_due and credit_request.date_due < today
                ),
                "amount": format_amount(
                    env, credit_request.amount_residual, credit_request.currency_id
                ),
            }
            for credit_request in requests.sudo()
        ]
        return {
            "unpaid_rows": rows,
            "unpaid_invoices": invoices_sudo,
            "unpaid_credit_requests": requests.sudo(),
            "client_credit_balance": format_amount(env, balance, company.currency_id),
            "show_unpaid_panel": True,
        }

    # ------------------------------------------------------------
    # CREDIT REQUESTS: LIST
    # ------------------------------------------------------------

    def _get_credit_requests_domain(self):
        return [("state", "in", PORTAL_STATES)]

    def _get_credit_request_searchbar_sortings(self):
        env = request.env
        return {
            "date": {"label": env._("Date"), "order": "date desc, id desc"},
            "duedate": {"label": env._("Due Date"), "order": "date_due desc, id desc"},
            "name": {"label": env._("Reference"), "order": "name desc"},
            "state": {"label": env._("Status"), "order": "state, id desc"},
        }

    def _get_credit_request_searchbar_filters(self):
        env = request.env
        return {
            "all": {"label": env._("All"), "domain": []},
            "open": {
                "label": env._("To Pay"),
                "domain": [("state", "in", PAYABLE_STATES)],
            },
            "paid": {"label": env._("Paid"), "domain": [("state", "=", "paid")]},
            "cancel": {
                "label": env._("Cancelled"),
                "domain": [("state", "=", "cancel")],
            },
        }

    @route(
        ["/my/credit_requests", "/my/credit_requests/page/<int:page>"],
        type="http",
        auth="user",
        website=True,
    )
    def portal_my_credit_requests(self, page=1, sortby=None, filterby=None, **kw):
        values = self._prepare_portal_layout_values()
        CreditRequest = request.env["account.credit.request"]
        sortings = self._get_credit_request_searchbar_sortings()
        filters = self._get_credit_request_searchbar_filters()
        sortby = sortby if sortby in sortings else "date"
        filterby = filterby if filterby in filters else "all"
        domain = self._get_credit_requests_domain() + filters[filterby]["domain"]
        has_access = CreditRequest.has_access("read")
        total = CreditRequest.search_count(domain) if has_access else 0
        pager = portal_pager(
            url="/my/credit_requests",
            url_args={"sortby": sortby, "filterby": filterby},
            total=total,
            page=page,
            step=self._items_per_page,
        )
        credit_requests = (
            CreditRequest.search(
                domain,
                order=sortings[sortby]["order"],
                limit=self._items_per_page,
                offset=pager["offset"],
            )
            if has_access
            else CreditRequest
        )
        request.session["my_credit_requests_history"] = credit_requests.ids[:100]
        values.update(
            {
                "credit_requests": credit_requests,
                "page_name": "credit_request",
                "pager": pager,
                "default_url": "/my/credit_requests",
                "searchbar_sortings": sortings,
                "sortby": sortby,
                "searchbar_filters": OrderedDict(sorted(filters.items())),
                "filterby": filterby,
            }
        )
        return request.render("invoice_client_pay.portal_my_credit_requests", values)

    # ------------------------------------------------------------
    # CREDIT REQUESTS: DETAIL AND PAYMENT PAGE
    # ------------------------------------------------------------

    @route(
        "/my/credit_requests/<int:request_id>",
        type="http",
        auth="public",
        website=True,
        sitemap=False,
    )
    def portal_my_credit_request_detail(
        self, request_id, access_token=None, report_type=None, download=False, **kw
    ):
        request_sudo = self._credit_request_check_access(request_id, access_token)
        if report_type in ("html", "pdf", "text"):
            return self._show_report(
                model=request_sudo,
                report_type=report_type,
                report_ref="invoice_client_pay.action_report_credit_request",
                download=download,
            )
        values = self._credit_request_get_page_view_values(
            request_sudo, access_token, **kw
        )
        return request.render("invoice_client_pay.portal_credit_request_page", values)

    def _credit_request_get_page_view_values(self, request_sudo, access_token, **kw):
        link_token = (
            access_token
            if access_token and request_sudo._check_payment_link_token(access_token)
            else None
        )
        values = {
            "page_name": "credit_request",
            "credit_request": request_sudo,
            "link_token": link_token,
        }
        values = self._get_page_view_values(
            request_sudo,
            link_token,
            values,
            "my_credit_requests_history",
            False,
            **kw,
        )
        if link_token:
            # The portal chatter reads with the signed link token and identifies
            # the visitor by a signature tied to the request's current portal
            # token: the raw token itself never reaches the page.
            pid = request_sudo.partner_id.id
            values.update({"pid": pid, "hash": request_sudo._sign_token(pid)})
        if request_sudo._is_payable_online():
            values.update(self._credit_request_payment_values(request_sudo, link_token))
        return values

    def _credit_request_payment_values(self, request_sudo, link_token):
        partner_sudo = self._payment_partner(request_sudo.partner_id)
        company = request_sudo.company_id
        currency = request_sudo.currency_id
        amount = request_sudo.amount_residual
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
        landing_route = request_sudo.access_url
        if link_token:
            landing_route += f"?access_token={link_token}"
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
            "transaction_route": f"/credit_request/transaction/{request_sudo.id}",
            "landing_route": landing_route,
            "access_token": link_token,
            "allow_partial": company.allow_partial_online_payment,
        }

    # ------------------------------------------------------------
    # PAY SEVERAL AT ONCE: CHECKOUT
    # ------------------------------------------------------------

    @route("/my/unpaid/pay", type="http", auth="user", methods=["GET"], website=True)
    def portal_pay_unpaid_items(self, **kw):
        items = request.httprequest.args.getlist("items")
        items = [item for value in items for item in value.split(",") if item]
        invoices_sudo, requests_sudo = self._get_selected_unpaid_items(items)
        documents = list(invoices_sudo) + list(requests_sudo)
        first = documents[0]
        values = self._prepare_portal_layout_values()
        values.update(
            {
                "page_name": "pay_unpaid",
                "invoices": invoices_sudo,
                "credit_requests": requests_sudo,
                "items": ",".join(
                    [f"inv-{i}" for i in sorted(invoices_sudo.ids)]
                    + [f"cr-{r}" for r in sorted(requests_sudo.ids)]
                ),
            }
        )
        if any(
            doc.currency_id != first.currency_id or doc.company_id != first.company_id
            for doc in documents
        ):
            values["mixed_error"] = True
            return request.render("invoice_client_pay.portal_pay_unpaid_page", values)
        currency, company = first.currency_id, first.company_id
        total = currency.round(
            sum(invoices_sudo.mapped("amount_residual"))
            + sum(requests_sudo.mapped("amount_residual"))
        )
        partner_sudo = request.env.user.partner_id
        availability_report = {}
        providers_sudo = (
            request.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                company.id,
                partner_sudo.id,
                total,
                currency_id=currency.id,
                report=availability_report,
            )
        )
        tokenize_mapping = self._compute_show_tokenize_input_mapping(providers_sudo)
        values.update(
            {
                "company_mismatch": not self._can_partner_pay_in_company(
                    partner_sudo, company
                ),
                "expected_company": company,
                "show_tokenize_input_mapping": tokenize_mapping,
                "amount": total,
                "currency": currency,
                "partner_id": partner_sudo.id,
                "providers_sudo": providers_sudo,
                "payment_methods_sudo": request.env["payment.method"]
                .sudo()
                ._get_compatible_payment_methods(
                    providers_sudo.ids,
                    partner_sudo.id,
                    currency_id=currency.id,
                    report=availability_report,
                ),
                "tokens_sudo": request.env["payment.token"]
                .sudo()
                ._get_available_tokens(providers_sudo.ids, partner_sudo.id),
                "availability_report": availability_report,
                "transaction_route": f"/my/unpaid/transaction/{values['items']}",
                "landing_route": "/my",
                "access_token": None,
            }
        )
        return request.render("invoice_client_pay.portal_pay_unpaid_page", values)

    # ------------------------------------------------------------
    # INVOICES
    # ------------------------------------------------------------

    @route()
    def portal_my_invoice_detail(self, invoice_id, access_token=None, **kw):
        invoice_sudo, portal_token = self._invoice_check_access(
            invoice_id, access_token
        )
        response = super().portal_my_invoice_detail(
            invoice_id, access_token=portal_token, **kw
        )
        qcontext = getattr(response, "qcontext", None)
        if qcontext and portal_token and portal_token != access_token:
            # Opened through a signed link: the page (payment form, chatter)
            # goes on with that link, never with the raw portal token.
            for key in ("access_token", "token"):
                if qcontext.get(key) == portal_token:
                    qcontext[key] = access_token
        return response
