// Embedded pages: hand the flow's result to the bank's page that frames us, and to that origin only.
(function () {
  "use strict";
  var holder = document.getElementById("embed-post");
  if (!holder || window.parent === window) { return; }
  var origin = holder.getAttribute("data-origin");
  var message;
  try {
    message = JSON.parse(holder.getAttribute("data-message"));
  } catch (e) {
    return;
  }
  // Never "*": if the parent is not on this origin, the browser drops the message.
  if (origin && origin !== "*" && /^https?:\/\/[^\/]+$/.test(origin)) {
    window.parent.postMessage(message, origin);
  }
})();
