import re
from collections import OrderedDict

from odoo import fields
from odoo.http import content_disposition, request, route
from odoo.tools import SQL
from odoo.tools.misc import format_amount, format_date

from odoo.addons.account_payment.controllers.portal import PortalAccount
from odoo.addons.portal.controllers.portal import pager as portal_pager

from .payment import ClientPayPaymentPortal


class ClientPayPortal(PortalAccount, ClientPayPaymentPortal):
    """Client pages of the portal.

    - `/my` (Odoo's) gets the "Unpaid Invoices & Credit Requests" panel.
    - `/my/credit` is the client's credit statement (pager, running balance,
      PDF).
    - `/my/credit_requests` lists the client's credit requests (pager, sorting,
      filters).
    - `/my/credit_requests/<id>` shows one, with Pay Now, chatter and PDF;
      without login through a signed payment link (`access_token`).
    - `/my/unpaid` lists every unpaid invoice and credit request (pager); the
      panel on `/my` shows the most urgent ones.
    - `/my/unpaid/pay` is the checkout of the items ticked in the panel.
    - `/my/invoices/<id>` (Odoo's) also opens through a signed payment link, and
      answers a plain 404 to anything it refuses.
    """

    # === HOME PANEL === #

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

    _unpaid_panel_rows = 10
    _unpaid_list_per_page = 20

    def _prepare_unpaid_panel_values(self):
        """The client's most urgent open invoices and credit requests (oldest
        due first), the count and totals of all of them, and the credit balance.

        Only the rows shown are formatted, so the page costs about the same
        with 250 documents as with 6; the full list is `/my/unpaid`. A fixed
        number of queries whatever the number of documents.
        """
        documents, totals = self._get_unpaid_documents_by_urgency()
        values = self._prepare_unpaid_rows(documents[: self._unpaid_panel_rows])
        company = request.env.company
        commercial_partner = request.env.user.partner_id.commercial_partner_id
        balance = commercial_partner.sudo().with_company(company).client_credit_balance
        values.update(
            {
                "unpaid_count": len(documents),
                "unpaid_summary": request.env._(
                    "The %(shown)s most urgent of %(count)s items. "
                    "Still to pay in all: %(total)s",
                    shown=len(values["unpaid_rows"]),
                    count=len(documents),
                    total=self._format_unpaid_totals(totals),
                ),
                "client_credit_balance": format_amount(
                    request.env, balance, company.currency_id
                ),
            }
        )
        return values

    def _get_unpaid_documents_by_urgency(self):
        """Every payable invoice and open credit request of the client
        (sudoed), oldest due date first, then oldest date, and what is still to
        pay on them: see ``_sort_by_urgency``."""
        return self._sort_by_urgency(*self._get_unpaid_documents())

    def _sort_by_urgency(self, invoices_sudo, requests_sudo):
        """Invoices and credit requests (sudoed) as one list, oldest due date
        first, then oldest date, and what is still to pay on all of them per
        currency (``{currency: amount}``, in the list's order).

        Sorting and totalling need four columns of every document, read in one
        query per model: going through the ORM's field access for each of
        hundreds of documents would cost more than the page's rendering."""
        far = fields.Date.to_date("9999-12-31")
        keyed = []
        for records_sudo, date_field, due_field in (
            (invoices_sudo, "invoice_date", "invoice_date_due"),
            (requests_sudo, "date", "date_due"),
        ):
            for doc_id, date, date_due, residual, currency_id in self._read_urgency(
                records_sudo, date_field, due_field
            ):
                key = (date_due or far, date or far, records_sudo._name, doc_id)
                keyed.append((key, records_sudo, residual, currency_id))
        keyed.sort(key=lambda item: item[0])
        documents, totals = [], {}
        for (*_dates, _model, doc_id), records_sudo, residual, currency_id in keyed:
            documents.append(records_sudo.browse(doc_id))
            totals[currency_id] = totals.get(currency_id, 0.0) + float(residual)
        currencies = request.env["res.currency"]
        return documents, {
            currencies.browse(cid): total for cid, total in totals.items()
        }

    @staticmethod
    def _read_urgency(records_sudo, date_field, due_field):
        """(id, date, due date, still to pay, currency id) of each of
        ``records_sudo``, in one query."""
        if not records_sudo:
            return []
        columns = [date_field, due_field, "amount_residual", "currency_id"]
        records_sudo.flush_recordset(columns)
        return records_sudo.env.execute_query(
            SQL(
                "SELECT id, %s FROM %s WHERE id IN %s",
                SQL(", ").join(SQL.identifier(column) for column in columns),
                SQL.identifier(records_sudo._table),
                tuple(records_sudo.ids),
            )
        )

    @staticmethod
    def _get_unpaid_dates(document):
        """(date, due date) of an invoice or a credit request."""
        if document._name == "account.move":
            return document.invoice_date, document.invoice_date_due
        return document.date, document.date_due

    def _prepare_unpaid_rows(self, documents):
        """The panel's (or the full list's) rows of ``documents``."""
        # The rest of their fields is read for these documents only.
        by_model = {}
        for document in documents:
            by_model.setdefault(document._name, []).append(document.id)
        documents = [
            document.with_prefetch(by_model[document._name]) for document in documents
        ]
        today = fields.Date.context_today(request.env.user)
        rows = [
            self._prepare_unpaid_row(
                document,
                "invoice" if document._name == "account.move" else "credit_request",
                *self._get_unpaid_dates(document),
                today,
            )
            for document in documents
        ]
        # "Reminded on": one grouped query for all the rows.
        reminded_on = request.env["res.partner"]._get_reminded_on(documents)
        for row, document in zip(rows, documents, strict=True):
            row["reminded_on"] = reminded_on.get(document)
        return {"unpaid_rows": rows}

    def _format_unpaid_totals(self, totals):
        """Still to pay per currency (``{currency: amount}``), formatted and
        joined."""
        return ", ".join(
            format_amount(request.env, amount, currency)
            for currency, amount in totals.items()
        )

    @route(
        ["/my/unpaid", "/my/unpaid/page/<string:page>"],
        type="http",
        auth="user",
        website=True,
    )
    def portal_my_unpaid_items(self, page=1, **kw):
        """Every unpaid invoice and credit request of the client, paged, most
        urgent first, each with Pay Now and a box for Pay Selected."""
        documents, totals = self._get_unpaid_documents_by_urgency()
        pager = portal_pager(
            url="/my/unpaid",
            total=len(documents),
            page=self._cast_page(page),
            step=self._unpaid_list_per_page,
        )
        shown = documents[
            pager["offset"] : pager["offset"] + self._unpaid_list_per_page
        ]
        values = self._prepare_portal_layout_values()
        values.update(self._prepare_unpaid_rows(shown))
        values.update(
            {
                "page_name": "unpaid_items",
                "pager": pager,
                "unpaid_summary": request.env._(
                    "%(count)s items. Still to pay in all: %(total)s",
                    count=len(documents),
                    total=self._format_unpaid_totals(totals),
                ),
            }
        )
        return request.render("invoice_client_pay.portal_my_unpaid_items", values)

    def _prepare_unpaid_row(self, document, kind, date, date_due, today):
        """One row of the panel: an invoice or a credit request (sudoed)."""
        env = request.env
        return {
            "item": self._get_unpaid_item(document),
            "kind": kind,
            "name": document.name,
            "url": document.access_url,
            "date": format_date(env, date),
            "date_due": format_date(env, date_due),
            "overdue": bool(date_due and date_due < today),
            "amount": format_amount(
                env, document.amount_residual, document.currency_id
            ),
        }

    # === CREDIT STATEMENT === #

    _credit_statement_per_page = 20

    @route(
        ["/my/credit", "/my/credit/page/<int:page>"],
        type="http",
        auth="user",
        website=True,
        sitemap=False,
    )
    def portal_my_credit(self, page=1, report_type=None, download=False, **kw):
        """The client's credit statement: every movement of the credit of the
        user's commercial entity in the current company, oldest first (the
        newest page last), with the running balance. ``report_type=pdf`` (or
        ``html``) gives the whole statement as a document."""
        partner_sudo = request.env.user.partner_id.commercial_partner_id.sudo()
        company = request.env.company
        if report_type in ("html", "pdf"):
            return self._show_credit_statement(
                partner_sudo, company, report_type, download
            )
        step = self._credit_statement_per_page
        Line = request.env["account.move.line"]
        total = Line._count_client_credit_movements(partner_sudo, company)
        pager = portal_pager(url="/my/credit", total=total, page=page, step=step)
        rows = Line._read_client_credit_statement(
            partner_sudo, company, offset=pager["offset"], limit=step
        )
        balance = partner_sudo.with_company(company).client_credit_balance
        values = self._prepare_portal_layout_values()
        values.update(
            {
                "page_name": "credit_statement",
                "pager": pager,
                "statement_rows": rows,
                "statement_total": total,
                "currency": company.currency_id,
                "client_credit_balance": balance,
                "default_url": "/my/credit",
            }
        )
        return request.render("invoice_client_pay.portal_my_credit", values)

    def _show_credit_statement(self, partner_sudo, company, report_type, download):
        """The statement of ``partner_sudo`` (the user's own commercial entity)
        rendered as the ``report_client_credit_statement`` document."""
        report_ref = "invoice_client_pay.action_report_client_credit_statement"
        Report = request.env["ir.actions.report"].sudo().with_company(company)
        render = getattr(Report, f"_render_qweb_{report_type}")
        content = render(
            report_ref, partner_sudo.ids, data={"report_type": report_type}
        )[0]
        headers = [
            (
                "Content-Type",
                "application/pdf" if report_type == "pdf" else "text/html",
            ),
            ("Content-Length", len(content)),
        ]
        if report_type == "pdf":
            filename = re.sub(r"\W+", "_", f"Credit Statement {partner_sudo.name}")
            headers.append(
                (
                    "Content-Disposition",
                    content_disposition(
                        f"{filename}.pdf",
                        disposition_type="attachment" if download else "inline",
                    ),
                )
            )
        return request.make_response(content, headers=headers)

    # === CREDIT REQUESTS: LIST === #

    def _get_credit_requests_domain(self):
        return request.env["account.credit.request"]._get_portal_visible_domain()

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
                "domain": request.env[
                    "account.credit.request"
                ]._get_client_payable_domain(),
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

    # === CREDIT REQUESTS: DETAIL AND PAYMENT PAGE === #

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
            "reminded_on": request.env["res.partner"]
            ._get_reminded_on([request_sudo])
            .get(request_sudo),
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
        if request_sudo._is_client_payable():
            values.update(
                self._get_credit_request_payment_form_values(request_sudo, link_token)
            )
        return values

    def _get_credit_request_payment_form_values(self, request_sudo, link_token):
        company = request_sudo.company_id
        landing_route = request_sudo.access_url
        if link_token:
            landing_route += f"?access_token={link_token}"
        return {
            **self._get_payment_form_values(
                self._get_payment_partner(request_sudo.partner_id),
                company,
                request_sudo.amount_residual,
                request_sudo.currency_id,
                f"/credit_request/transaction/{request_sudo.id}",
                landing_route,
                access_token=link_token,
            ),
            "allow_partial": company.allow_partial_online_payment,
        }

    # === PAY SEVERAL AT ONCE: CHECKOUT === #

    @route(
        ["/my/unpaid/pay", "/my/unpaid/pay/page/<string:page>"],
        type="http",
        auth="user",
        methods=["GET"],
        website=True,
    )
    def portal_pay_unpaid_items(self, page=1, **kw):
        """The checkout of the items ticked in the panel or the full list: their
        rows a page at a time, the total and the payment form for all of them
        (the selection travels in the pager's links)."""
        items = [
            item
            for value in request.httprequest.args.getlist("items")
            for item in value.split(",")
            if item
        ]
        invoices_sudo, requests_sudo = self._get_selected_unpaid_items(items)
        items = ",".join(
            self._get_unpaid_item(document)
            for document in (*invoices_sudo.sorted("id"), *requests_sudo.sorted("id"))
        )
        values = self._prepare_pay_unpaid_values(
            invoices_sudo, requests_sudo, "/my/unpaid/pay", page, {"items": items}
        )
        documents_total = self._get_documents_total(
            list(invoices_sudo) + list(requests_sudo)
        )
        if documents_total:
            currency, company, total = documents_total
            values.update(
                self._get_payment_form_values(
                    request.env.user.partner_id,
                    company,
                    total,
                    currency,
                    f"/my/unpaid/transaction/{items}",
                    "/my",
                )
            )
        else:
            values["mixed_error"] = True
        return request.render("invoice_client_pay.portal_pay_unpaid_page", values)

    def _prepare_pay_unpaid_values(
        self, invoices_sudo, requests_sudo, url, page, url_args
    ):
        """The checkout's page ``page``: its rows (most urgent first, as on
        /my/unpaid, and as many a page) and Odoo's pager, whose links carry
        ``url_args`` (the selection, the link's token). The total and the
        payment form are the caller's, always over all the documents."""
        documents, _totals = self._sort_by_urgency(invoices_sudo, requests_sudo)
        step = self._unpaid_list_per_page
        pager = portal_pager(
            url=url,
            total=len(documents),
            page=self._cast_page(page),
            step=step,
            url_args=url_args,
        )
        shown = documents[pager["offset"] : pager["offset"] + step]
        values = self._prepare_portal_layout_values()
        values.update(
            {
                "page_name": "pay_unpaid",
                "invoices": invoices_sudo,
                "credit_requests": requests_sudo,
                "documents": shown,
                "pager": pager,
            }
        )
        if pager["page_count"] > 1:
            env = request.env
            values["pay_summary"] = env._(
                "Items %(first)s to %(last)s of %(count)s",
                first=pager["offset"] + 1,
                last=pager["offset"] + len(shown),
                count=len(documents),
            )
            values["pay_total_note"] = env._(
                "(all %(count)s items)", count=len(documents)
            )
        return values

    @staticmethod
    def _cast_page(page):
        """A page number from the path or the query string (any text): ASCII
        digits only, at most 18 (a longer number is just past the last page);
        anything else is page 1. Odoo's pager clamps the rest. (The path takes
        text, not ``<int:page>``: the router's int() fails with a 500 on a
        number of 4,300 digits and more, before any controller.)"""
        if isinstance(page, int) and not isinstance(page, bool):
            return page
        if not isinstance(page, str) or not re.fullmatch(r"[0-9]+", page):
            return 1
        return int(page) if len(page) <= 18 else 10**18

    # === PAY ALL: THE SIGNED LINK OF A REMINDER === #

    @route(
        [
            "/my/unpaid/link/<int:partner_id>",
            "/my/unpaid/link/<int:partner_id>/page/<string:page>",
        ],
        type="http",
        auth="public",
        methods=["GET"],
        website=True,
        sitemap=False,
    )
    def portal_pay_all_link(
        self, partner_id, items=None, access_token=None, page=1, **kw
    ):
        """The pay-several checkout of a reminder's pay-all link, without
        login: what the link lists and is still unpaid, for the client it was
        made for (partner, amounts, currency and company from the documents),
        a page of rows at a time (the pager's links carry the link's items and
        token)."""
        partner_sudo, invoices_sudo, requests_sudo, item_list = (
            self._pay_all_link_check_access(partner_id, items, access_token)
        )
        values = self._prepare_pay_unpaid_values(
            invoices_sudo,
            requests_sudo,
            f"/my/unpaid/link/{partner_sudo.id}",
            page,
            {"items": ",".join(item_list), "access_token": access_token},
        )
        documents = list(invoices_sudo) + list(requests_sudo)
        documents_total = documents and self._get_documents_total(documents)
        if not documents:
            values["nothing_to_pay"] = True
        elif documents_total:
            currency, company, total = documents_total
            values.update(
                self._get_payment_form_values(
                    self._get_payment_partner(partner_sudo),
                    company,
                    total,
                    currency,
                    f"/my/unpaid/link/{partner_sudo.id}/transaction/"
                    f"{','.join(item_list)}",
                    partner_sudo._get_pay_all_path(item_list, access_token),
                    access_token=access_token,
                )
            )
        else:
            values["mixed_error"] = True
        return request.render("invoice_client_pay.portal_pay_unpaid_page", values)

    # === INVOICES === #

    def _invoice_get_page_view_values(self, invoice, access_token, **kwargs):
        values = super()._invoice_get_page_view_values(invoice, access_token, **kwargs)
        values["reminded_on"] = (
            request.env["res.partner"]._get_reminded_on([invoice]).get(invoice)
        )
        if invoice._check_payment_link_token(access_token):
            # As on a credit request's page: the chatter identifies a visitor
            # through the link as the client (while the link lives).
            pid = invoice.partner_id.id
            values.update({"pid": pid, "hash": invoice._sign_token(pid)})
        return values

    @route()
    def portal_my_invoice_detail(self, invoice_id, access_token=None, **kw):
        # Every refusal is a plain 404 (Odoo's route would redirect). Odoo's
        # route goes on with the signed link (its document check accepts it),
        # so the page (payment form, chatter, PDF) does too; a logged-in
        # client's page carries no token at all.
        invoice_sudo = self._invoice_check_access(invoice_id, access_token)
        if not invoice_sudo._check_payment_link_token(access_token):
            access_token = None
        return super().portal_my_invoice_detail(
            invoice_id, access_token=access_token, **kw
        )

    # === PAGER === #

    def _get_page_view_values(
        self, document, access_token, values, session_history, no_breadcrumbs, **kwargs
    ):
        values = super()._get_page_view_values(
            document, access_token, values, session_history, no_breadcrumbs, **kwargs
        )
        if isinstance(document, document.pool["invoice_client_pay.payment.link.mixin"]):
            # Odoo's pager links the previous and next documents with their raw
            # portal tokens: plain URLs instead (the pager walks the logged-in
            # client's own list).
            for key in ("prev_record", "next_record"):
                if isinstance(values.get(key), str):
                    values[key] = values[key].split("?", 1)[0]
        return values
