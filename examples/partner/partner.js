// The bank's side of the iframe mode: open the gateway's flow in a frame, listen for its result.
(function () {
  "use strict";
  var gateway = document.body.getAttribute("data-gateway").replace(/\/+$/, "");
  var bank = document.body.getAttribute("data-bank");
  var gatewayOrigin = new URL(gateway).origin;
  var holder = document.getElementById("frame-holder");
  var frame = null;

  function open(flow) {
    holder.textContent = "";
    frame = document.createElement("iframe");
    frame.id = "otp-frame";
    frame.title = "ワンタイムパスワード";
    // ?origin= tells the gateway which of the bank's listed origins to post the result to.
    frame.src = gateway + "/b/" + encodeURIComponent(bank) + "/embed/" + flow +
      "?origin=" + encodeURIComponent(window.location.origin);
    holder.appendChild(frame);
  }

  document.querySelectorAll("button[data-flow]").forEach(function (button) {
    button.addEventListener("click", function () { open(button.getAttribute("data-flow")); });
  });

  window.addEventListener("message", function (event) {
    // Only the gateway's origin, and only our own frame.
    if (event.origin !== gatewayOrigin || !frame || event.source !== frame.contentWindow) { return; }
    var data = event.data || {};
    var item = document.createElement("li");
    item.textContent = JSON.stringify(data);
    document.getElementById("messages").appendChild(item);
    if (data.type === "otp-gateway:close") {
      holder.textContent = "";
      frame = null;
    }
    if (data.type === "otp-gateway:result" && data.otp_result) {
      // The message itself is a hint; the bank's server decides from the signed result.
      fetch("/otp/verify", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({otp_result: data.otp_result})
      }).then(function (r) { return r.json(); }).then(function (answer) {
        var out = document.getElementById("verdict");
        out.setAttribute("data-verdict", answer.verdict);
        out.textContent = answer.verdict + (answer.reason ? " (" + answer.reason + ")" :
          ": " + answer.claims.flow + " " + answer.claims.result + " for " + answer.claims.sub);
      });
    }
  });
})();
