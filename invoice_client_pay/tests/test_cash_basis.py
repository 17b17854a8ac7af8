from odoo import Command
from odoo.tests import tagged

from .common import ClientCreditCommon


@tagged("post_install", "-at_install")
class TestCashBasisCredit(ClientCreditCommon):
    """Credit that pays an invoice with a cash-basis tax makes the same tax
    cash-basis entries as Odoo makes when an accountant matches that credit
    with the invoice by hand (the invoice form's "Add" link), whether the whole
    credit, part of it, or all of it automatically pays the invoice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.company
        company.tax_exigibility = True
        if not company.tax_cash_basis_journal_id:
            company.tax_cash_basis_journal_id = cls.env["account.journal"].create(
                {"name": "Cash Basis Taxes", "code": "ICPCB", "type": "general"}
            )
        transition_account = cls.env["account.account"].create(
            {
                "code": "icp.caba.transition",
                "name": "Tax to receive (cash basis)",
                "account_type": "liability_current",
                "reconcile": True,
            }
        )
        cls.tax_account = cls.env["account.account"].create(
            {
                "code": "icp.caba.tax",
                "name": "Tax received",
                "account_type": "liability_current",
            }
        )
        tags = cls.env["account.account.tag"].create(
            [
                {
                    "name": f"icp_caba_tag_{index}",
                    "applicability": "taxes",
                    "country_id": company.account_fiscal_country_id.id,
                }
                for index in range(4)
            ]
        )

        def repartition(base_tag, tax_tag):
            return [
                Command.create(
                    {"repartition_type": "base", "tag_ids": [Command.set(base_tag.ids)]}
                ),
                Command.create(
                    {
                        "repartition_type": "tax",
                        "account_id": cls.tax_account.id,
                        "tag_ids": [Command.set(tax_tag.ids)],
                    }
                ),
            ]

        cls.cash_basis_tax = cls.env["account.tax"].create(
            {
                "name": "VAT 15% on payment",
                "amount": 15.0,
                "type_tax_use": "sale",
                "company_id": company.id,
                "tax_exigibility": "on_payment",
                "cash_basis_transition_account_id": transition_account.id,
                "invoice_repartition_line_ids": repartition(tags[0], tags[1]),
                "refund_repartition_line_ids": repartition(tags[2], tags[3]),
            }
        )
        # The client whose invoices the module pays, and a twin whose invoices
        # an accountant pays by hand, the way Odoo does it.
        cls.twin_client = cls.env["res.partner"].create(
            {"name": "Twin Client", "email": "twin@example.com"}
        )

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _taxed_invoice(self, partner, post=True):
        """200.00 + 15% cash-basis VAT = 230.00."""
        return self._create_invoice(
            partner_id=partner.id,
            invoice_date="2026-03-02",
            invoice_line_ids=[
                Command.create(
                    {
                        "name": "Service",
                        "price_unit": 200.0,
                        "tax_ids": [Command.set(self.cash_basis_tax.ids)],
                    }
                )
            ],
            post=post,
        )

    def _credit(self, amount, partner):
        return self._credit_line(amount, partner, date="2026-03-09")

    def _add_by_hand(self, invoice, credit_line):
        """What an accountant does in Odoo without this module: click "Add" on
        the outstanding credit in the invoice form."""
        invoice.js_assign_outstanding_line(credit_line.id)

    def _cash_basis_entries(self, invoice):
        """The invoice's tax cash-basis entries, in a form that can be compared
        between two invoices."""
        moves = self.env["account.move"].search(
            [("tax_cash_basis_origin_move_id", "=", invoice.id)], order="id"
        )
        return [
            (
                move.date,
                move.state,
                sorted(
                    (
                        line.account_id.id,
                        line.balance,
                        line.amount_currency,
                        tuple(line.tax_ids.ids),
                        tuple(line.tax_tag_ids.ids),
                        line.tax_repartition_line_id.id,
                    )
                    for line in move.line_ids
                ),
            )
            for move in moves
        ]

    def _tax_received(self, invoice):
        moves = self.env["account.move"].search(
            [("tax_cash_basis_origin_move_id", "=", invoice.id)]
        )
        lines = moves.line_ids.filtered(
            lambda line: line.account_id == self.tax_account
        )
        return -sum(lines.mapped("balance"))

    def assertSameCashBasisAsByHand(self, invoice, twin_invoice, tax):
        entries = self._cash_basis_entries(invoice)
        self.assertTrue(entries, "The matching made the tax cash-basis entries.")
        self.assertEqual(entries, self._cash_basis_entries(twin_invoice))
        self.assertAlmostEqual(self._tax_received(invoice), tax)
        self.assertEqual(invoice.amount_residual, twin_invoice.amount_residual)
        # "Paid from credit" marks the receivable matchings, not the cash-basis
        # entries' matchings made by the same reconciliation.
        flagged = self.env["account.partial.reconcile"].search(
            [("client_credit_applied", "=", True)]
        )
        self.assertTrue(flagged)
        self.assertEqual(
            set(flagged.debit_move_id.mapped("account_type")), {"asset_receivable"}
        )

    # ------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------

    def test_full_pay_from_credit(self):
        self.company.auto_mark_invoices_paid = False
        invoice = self._taxed_invoice(self.client)
        twin_invoice = self._taxed_invoice(self.twin_client)
        self._credit(300.0, self.client)
        twin_credit = self._credit(300.0, self.twin_client)
        self.company.auto_mark_invoices_paid = True

        invoice._pay_from_client_credit(230.0)
        self._add_by_hand(twin_invoice, twin_credit)

        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        self.assertSameCashBasisAsByHand(invoice, twin_invoice, 30.0)
        self.assertLedgerConsistent()

    def test_partial_pay_from_credit(self):
        """46.00 of a 300.00 credit on a 230.00 invoice: less than both, so the
        matching is partial on both sides. It makes the cash-basis entries of
        20% of the invoice, as matching a 46.00 credit by hand does."""
        self.company.auto_mark_invoices_paid = False
        invoice = self._taxed_invoice(self.client)
        twin_invoice = self._taxed_invoice(self.twin_client)
        credit = self._credit(300.0, self.client)
        twin_credit = self._credit(46.0, self.twin_client)
        self.company.auto_mark_invoices_paid = True

        invoice._pay_from_client_credit(46.0)
        self._add_by_hand(twin_invoice, twin_credit)

        self.assertEqual(invoice.amount_residual, 184.0)
        self.assertEqual(invoice.amount_paid_from_credit, 46.0)
        self.assertEqual(credit.amount_residual, -254.0)
        self.assertSameCashBasisAsByHand(invoice, twin_invoice, 6.0)
        self.assertLedgerConsistent()

        # The rest of the invoice, later: the rest of its tax.
        invoice._pay_from_client_credit(184.0)
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        self.assertAlmostEqual(self._tax_received(invoice), 30.0)
        self.assertEqual(self._balance(), 70.0)
        self.assertLedgerConsistent()

    def test_automatic_application_on_post(self):
        """Credit the client has when the invoice is posted pays it."""
        self._credit(100.0, self.client)
        self.company.auto_mark_invoices_paid = False
        twin_credit = self._credit(100.0, self.twin_client)
        twin_invoice = self._taxed_invoice(self.twin_client)
        self.company.auto_mark_invoices_paid = True

        invoice = self._taxed_invoice(self.client)
        self._add_by_hand(twin_invoice, twin_credit)

        self.assertEqual(invoice.amount_paid_from_credit, 100.0)
        self.assertSameCashBasisAsByHand(invoice, twin_invoice, 13.04)
        self.assertLedgerConsistent()

    def test_automatic_application_when_credit_arrives(self):
        """Credit that arrives later pays the open invoice."""
        self.company.auto_mark_invoices_paid = False
        invoice = self._taxed_invoice(self.client)
        twin_invoice = self._taxed_invoice(self.twin_client)
        twin_credit = self._credit(115.0, self.twin_client)
        self.company.auto_mark_invoices_paid = True

        self._credit(115.0, self.client)
        self._add_by_hand(twin_invoice, twin_credit)

        self.assertEqual(invoice.amount_paid_from_credit, 115.0)
        self.assertSameCashBasisAsByHand(invoice, twin_invoice, 15.0)
        self.assertLedgerConsistent()
