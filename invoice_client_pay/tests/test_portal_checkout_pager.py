import html
import re
from datetime import date, timedelta

from odoo import Command
from odoo.tests import JsonRpcException, tagged

from .common_portal import ClientPayHttpCommon

PAGE_SIZE = 20  # /my/unpaid's page size, the checkout's too


class CheckoutPagerCommon(ClientPayHttpCommon):
    """A client with 26 open documents (22 invoices, 4 credit requests): more
    than one page of the checkout, and another client's invoice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False
        start = date(2026, 1, 1)
        cls.invoices = cls.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": cls.client.id,
                    "invoice_date": start + timedelta(days=i),
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Service", "price_unit": 10.0 + i, "tax_ids": []}
                        )
                    ],
                }
                for i in range(22)
            ]
        )
        cls.invoices.action_post()
        cls.requests = cls.credit_request
        for i in range(3):
            cls.requests |= cls._make_sent_request(5.0 + i)
        cls.documents = [*cls.invoices, *cls.requests]
        cls.total = sum(document.amount_residual for document in cls.documents)
        cls.other_invoice = cls.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": cls.other_client.id,
                "invoice_date": start,
                "invoice_line_ids": [
                    Command.create({"name": "Service", "price_unit": 80.0})
                ],
            }
        )
        cls.other_invoice.action_post()

    @staticmethod
    def _item(document):
        return f"{'inv' if document._name == 'account.move' else 'cr'}-{document.id}"

    def _rows(self, page_html):
        """The document names listed on a checkout page."""
        return re.findall(
            r'class="[^"]*o_icp_pay_item[^"]*"[^>]*>\s*<td[^>]*>\s*([^<\s]+)', page_html
        )

    def _page_link(self, page_html, number):
        """The pager's link to page ``number``, as the browser would follow it."""
        links = re.findall(rf'href="([^"]*/page/{number}\?[^"]*)"', page_html)
        self.assertTrue(links, f"the pager links page {number}")
        return html.unescape(links[0])

    def _assert_whole_selection(self, page_html, route_prefix):
        """Total, payment form amount and transaction route: all documents."""
        total = re.search(r"o_icp_total[\s\S]*?</tr>", page_html).group(0)
        self.assertIn(f"{self.total:,.2f}", total)
        self.assertIn(f'data-amount="{self.total}"', page_html)
        route = re.search(
            rf'data-transaction-route="({re.escape(route_prefix)}[^"]*)"', page_html
        ).group(1)
        items = set(route.rsplit("/", 1)[1].split(","))
        self.assertEqual(items, {self._item(document) for document in self.documents})
        return route

    def _assert_two_pages(self, page_1, page_2):
        rows_1, rows_2 = self._rows(page_1), self._rows(page_2)
        self.assertEqual(len(rows_1), PAGE_SIZE)
        self.assertEqual(len(rows_2), len(self.documents) - PAGE_SIZE)
        self.assertEqual(
            sorted(rows_1 + rows_2),
            sorted(document.name for document in self.documents),
        )

    def _last_tx(self):
        return self.env["payment.transaction"].search([], order="id desc", limit=1)


@tagged("post_install", "-at_install")
class TestCheckoutPager(CheckoutPagerCommon):
    """/my/unpaid/pay with more selected documents than a page: the rows are
    paged, the total and the payment cover the whole selection."""

    def setUp(self):
        super().setUp()
        self.authenticate(self.portal_user.login, self.portal_user.login)
        self.items = ",".join(self._item(document) for document in self.documents)

    def test_rows_paged_total_and_payment_of_all(self):
        page_1 = self._get(f"/my/unpaid/pay?items={self.items}")
        self.assertEqual(page_1.status_code, 200)
        page_2_url = self._page_link(page_1.text, 2)
        self.assertTrue(page_2_url.startswith("/my/unpaid/pay/page/2?items="))
        page_2 = self._get(page_2_url)
        self.assertEqual(page_2.status_code, 200)
        self._assert_two_pages(page_1.text, page_2.text)
        self.assertIn("o_icp_pay_summary", page_1.text)
        for page in (page_1, page_2):
            route = self._assert_whole_selection(page.text, "/my/unpaid/transaction/")
        # The amount shown is the amount charged, for every document.
        amount = float(re.search(r'data-amount="([0-9.]+)"', page_2.text).group(1))
        self.make_jsonrpc_request(route, self._tx_values(amount))
        tx = self._last_tx()
        self.assertAlmostEqual(tx.amount, self.total)
        self.assertEqual(tx.invoice_ids, self.invoices)
        self.assertEqual(tx.credit_request_ids, self.requests)
        # Ticked boxes (one "items" parameter each) page the same way.
        ticked = "&".join(f"items={self._item(d)}" for d in self.documents)
        page_1 = self._get(f"/my/unpaid/pay?{ticked}")
        self._assert_two_pages(
            page_1.text, self._get(self._page_link(page_1.text, 2)).text
        )

    def test_one_page_has_no_pager(self):
        items = ",".join(self._item(document) for document in self.documents[:3])
        page = self._get(f"/my/unpaid/pay?items={items}").text
        self.assertEqual(len(self._rows(page)), 3)
        self.assertNotIn("/my/unpaid/pay/page/", page)
        self.assertNotIn("o_icp_pay_summary", page)

    def test_another_clients_item_refused_on_every_page(self):
        items = f"{self.items},{self._item(self.other_invoice)}"
        for url in (
            f"/my/unpaid/pay?items={items}",
            f"/my/unpaid/pay/page/2?items={items}",
            f"/my/unpaid/pay/page/9?items={items}",
            f"/my/unpaid/pay?items={items}&page=2",
        ):
            self.assertEqual(self._get(url).status_code, 404, url)
        with self.assertRaises(JsonRpcException) as error:
            self.make_jsonrpc_request(
                f"/my/unpaid/transaction/{items}", self._tx_values(self.total + 80.0)
            )
        self.assertEqual(error.exception.code, 404)

    def test_bad_page_numbers(self):
        """Odoo's pager clamps: page 0, a negative page and junk are the first
        page, a huge number (even one Python's int() refuses) the last."""
        first = [
            f"/my/unpaid/pay/page/{page}?items={self.items}"
            for page in ("0", "-1", "abc", "1.5", "%C2%B2")
        ] + [
            f"/my/unpaid/pay?items={self.items}&page={page}"
            for page in ("0", "-1", "abc", "\u00b2", "1.5", "")
        ]
        last = [
            f"/my/unpaid/pay/page/3?items={self.items}",
            f"/my/unpaid/pay/page/{'9' * 30}?items={self.items}",
            f"/my/unpaid/pay/page/{'9' * 5000}?items={self.items}",
            f"/my/unpaid/pay?items={self.items}&page={'9' * 30}",
            f"/my/unpaid/pay?items={self.items}&page={'9' * 5000}",
        ]
        for url in first + last:
            response = self._get(url)
            self.assertEqual(response.status_code, 200, url)
            self.assertEqual(
                len(self._rows(response.text)),
                PAGE_SIZE if url in first else len(self.documents) - PAGE_SIZE,
                url,
            )
            self._assert_whole_selection(response.text, "/my/unpaid/transaction/")

    def test_full_list_bad_page_numbers(self):
        """/my/unpaid clamps its page numbers the same way."""
        for page, rows in (
            ("0", PAGE_SIZE),
            ("-1", PAGE_SIZE),
            ("abc", PAGE_SIZE),
            ("9" * 5000, len(self.documents) - PAGE_SIZE),
        ):
            response = self._get(f"/my/unpaid/page/{page}")
            self.assertEqual(response.status_code, 200, page)
            self.assertEqual(response.text.count("o_icp_pay_now"), rows, page)

    def test_pages_need_a_login(self):
        self.authenticate(None, None)
        response = self._get(f"/my/unpaid/pay/page/2?items={self.items}")
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])


@tagged("post_install", "-at_install")
class TestPayAllLinkPager(CheckoutPagerCommon):
    """A reminder's pay-all link listing more documents than a page, logged
    out: every page opens with the link's signed token, the total and the
    payment cover all the listed documents."""

    def setUp(self):
        super().setUp()
        url = self.client._get_pay_all_url(self.documents)
        self.path = url[len(self.client.get_base_url()) :]
        self.token = re.search(r"access_token=([0-9]+\.[\w-]+)", self.path).group(1)
        self.missing = "/my/unpaid/link/2147483000?items=inv-1&access_token=1.x"

    def test_rows_paged_token_kept_total_and_payment_of_all(self):
        page_1 = self._get(self.path)
        self.assertEqual(page_1.status_code, 200)
        page_2_url = self._page_link(page_1.text, 2)
        self.assertTrue(
            page_2_url.startswith(f"/my/unpaid/link/{self.client.id}/page/2?")
        )
        self.assertIn(f"access_token={self.token}", page_2_url)
        page_2 = self._get(page_2_url)
        self.assertEqual(page_2.status_code, 200)
        self._assert_two_pages(page_1.text, page_2.text)
        # Back to page 1 from page 2: the token is still there.
        back = self._get(
            html.unescape(
                re.search(
                    r'href="(/my/unpaid/link/[^"]*)"[^>]*>\s*1\s*<', page_2.text
                ).group(1)
            )
        )
        self.assertEqual(back.status_code, 200)
        self.assertEqual(self._rows(back.text), self._rows(page_1.text))
        for page in (page_1, page_2):
            route = self._assert_whole_selection(
                page.text, f"/my/unpaid/link/{self.client.id}/transaction/"
            )
        amount = float(re.search(r'data-amount="([0-9.]+)"', page_2.text).group(1))
        self.make_jsonrpc_request(
            route, {**self._tx_values(amount), "access_token": self.token}
        )
        tx = self._last_tx()
        self.assertAlmostEqual(tx.amount, self.total)
        self.assertEqual(tx.invoice_ids, self.invoices)
        self.assertEqual(tx.credit_request_ids, self.requests)
        self.assertEqual(tx.partner_id, self.client)

    def test_bad_token_or_foreign_item_a_plain_404_on_every_page(self):
        page_2 = self._get(self.path).text
        page_2_url = self._page_link(page_2, 2)
        issued, signature = self.token.split(".")
        flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        foreign = self._item(self.other_invoice)
        for url in (
            page_2_url.replace(self.token, f"{issued}.{flipped}"),
            page_2_url.replace(f"&access_token={self.token}", ""),
            page_2_url.replace("items=", f"items={foreign},"),
            page_2_url.replace("items=", f"items={foreign}%2C"),
            page_2_url.replace("/page/2?", "/page/9?").replace(self.token, "1.x"),
        ):
            self.assertPlainNotFound(url, self.missing)

    def test_bad_page_numbers(self):
        base = self.path.split("?", 1)
        for page, rows in (
            ("0", PAGE_SIZE),
            ("-1", PAGE_SIZE),
            ("abc", PAGE_SIZE),
            ("9" * 30, len(self.documents) - PAGE_SIZE),
            ("9" * 5000, len(self.documents) - PAGE_SIZE),
        ):
            url = f"{base[0]}/page/{page}?{base[1]}"
            response = self._get(url)
            self.assertEqual(response.status_code, 200, url)
            self.assertEqual(len(self._rows(response.text)), rows, url)
        for page in ("-1", "abc", "\u00b2"):
            url = f"{self.path}&page={page}"
            response = self._get(url)
            self.assertEqual(response.status_code, 200, url)
            self.assertEqual(len(self._rows(response.text)), PAGE_SIZE, url)
