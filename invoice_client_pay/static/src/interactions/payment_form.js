import { patch } from "@web/core/utils/patch";

import { PaymentForm } from "@payment/interactions/payment_form";

patch(PaymentForm.prototype, {
    /**
     * When the company allows partial payments (credit request page, invoice
     * payment dialog), pay the amount typed by the client. The server checks it
     * again.
     *
     * @override
     */
    async submitForm(ev) {
        const container = this.el.closest(".o_icp_payment, #pay_with");
        const amountInput = container?.querySelector("input[name='o_icp_amount']");
        if (amountInput) {
            this.paymentContext.amount = parseFloat(amountInput.value);
        }
        return super.submitForm(...arguments);
    },
});
