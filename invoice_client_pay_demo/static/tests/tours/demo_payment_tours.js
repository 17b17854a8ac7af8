import { registry } from "@web/core/registry";

/**
 * The demo, clicked through as the portal client: Pay Now from the panel on /my,
 * Odoo's Demo provider, back to /my once the payment is confirmed.
 */
const payNowWithDemo = (row) => [
    {
        content: "Pay Now on the item",
        trigger: `#o_icp_unpaid_panel tr.${row} a.o_icp_pay_now`,
        run: "click",
        expectUnloadPage: true,
    },
    {
        content: "Choose Odoo's Demo provider",
        trigger: ".o_icp_pay_unpaid_page input[name='o_payment_radio'][data-provider-code='demo']",
        run: "click",
    },
    {
        content: "The Demo provider's card form is shown",
        trigger: ".o_icp_pay_unpaid_page #customer_input",
        run: "edit 4242",
    },
    {
        content: "Pay",
        trigger: ".o_icp_pay_unpaid_page button[name='o_payment_submit_button']:enabled",
        run: "click",
        expectUnloadPage: true,
    },
    {
        content: "The payment is confirmed and the client is back on /my",
        trigger: "#o_icp_unpaid_panel, .o_portal_my_home",
    },
];

registry.category("web_tour.tours").add("icp_demo_tour_pay_invoice", {
    url: "/my",
    steps: () => payNowWithDemo("o_icp_unpaid_invoice"),
});

registry.category("web_tour.tours").add("icp_demo_tour_pay_credit_request", {
    url: "/my",
    steps: () => payNowWithDemo("o_icp_unpaid_credit_request"),
});
