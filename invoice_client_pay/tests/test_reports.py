import io
import os
import shutil
import subprocess
import tempfile

from odoo.tests import HttpCase, tagged
from odoo.tools.pdf import PdfReader

from .common import ClientCreditCommon

PDFTOTEXT = "/usr/bin/pdftotext"


@tagged("post_install", "-at_install")
class TestReports(ClientCreditCommon, HttpCase):
    """The module's PDFs rendered for real by wkhtmltopdf (not Odoo's test-mode
    HTML stand-in): the credit request, the receipt of its payment, and the
    client's credit statement.

    An HttpCase: wkhtmltopdf fetches the report's assets from the test server,
    which must read them through the test's own transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.credit_request = cls._credit_request_for_print(250.0)
        # A system font, so that the PDF holds its text (see the stylesheet).
        cls.env["ir.asset"].create(
            {
                "name": "invoice_client_pay: report text font (tests)",
                "bundle": "web.report_assets_common",
                "path": "invoice_client_pay/static/tests/reports/"
                "report_system_font.css",
            }
        )

    @classmethod
    def _credit_request_for_print(cls, amount):
        return cls.env["account.credit.request"].create(
            {"partner_id": cls.client.id, "amount": amount}
        )

    def setUp(self):
        super().setUp()
        state = self.env["ir.actions.report"].get_wkhtmltopdf_state()
        if state not in ("ok", "workers") or not shutil.which("wkhtmltopdf"):
            self.skipTest(f"wkhtmltopdf is not usable here (state: {state})")

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _render_pdf(self, report_ref, records):
        pdf, content_type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(report_ref, records.ids)
        )
        self.assertEqual(content_type, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"), pdf[:20])
        return pdf

    @staticmethod
    def _pdf_text(pdf):
        """The text of ``pdf``: pdftotext when installed, else Odoo's pypdf."""
        if os.path.exists(PDFTOTEXT):
            with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf_file:
                pdf_file.write(pdf)
                pdf_file.flush()
                return subprocess.run(
                    [PDFTOTEXT, "-layout", pdf_file.name, "-"],
                    capture_output=True,
                    check=True,
                    text=True,
                ).stdout
        reader = PdfReader(io.BytesIO(pdf))
        return "\n".join(page.extract_text() for page in reader.pages)

    def _amount_text(self, amount):
        """How the PDF writes ``amount`` (digits with the company's
        separators, whatever the currency symbol's place)."""
        return (
            self.currency.format(amount)
            .replace("\xa0", " ")
            .strip(self.currency.symbol + " ")
        )

    def assertPdfContains(self, text, *expected):
        flat = " ".join(text.split())
        for value in expected:
            self.assertIn(value, flat)

    # ------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------

    def test_credit_request_pdf(self):
        pdf = self._render_pdf(
            "invoice_client_pay.action_report_credit_request", self.credit_request
        )
        self.assertPdfContains(
            self._pdf_text(pdf), self.credit_request.name, self._amount_text(250.0)
        )

    def test_payment_receipt_pdf(self):
        payment = self._pay_request(self.credit_request, amount=120.0)
        self.assertTrue(payment)
        pdf = self._render_pdf("account.action_report_payment_receipt", payment)
        self.assertPdfContains(
            self._pdf_text(pdf), payment.name, self._amount_text(120.0)
        )

    def test_credit_statement_pdf(self):
        self._pay_request(self.credit_request)
        invoice = self._invoice(70.0)
        self.assertEqual(invoice.payment_state, "paid")
        pdf = self._render_pdf(
            "invoice_client_pay.action_report_client_credit_statement", self.client
        )
        self.assertPdfContains(
            self._pdf_text(pdf),
            "Credit Statement",
            self.credit_request.name,
            invoice.name,
            self._amount_text(180.0),
        )
