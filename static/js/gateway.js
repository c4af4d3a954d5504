// Progressive enhancements; every page works without them.
(function () {
  "use strict";

  // ソフトウェアキーボード入力: an on-screen keyboard with shuffled keys for password fields.
  function shuffled(chars) {
    var list = chars.split("");
    for (var i = list.length - 1; i > 0; i--) {
      var buf = new Uint32Array(1);
      window.crypto.getRandomValues(buf);
      var j = buf[0] % (i + 1);
      var t = list[i]; list[i] = list[j]; list[j] = t;
    }
    return list;
  }

  function key(label, onPress, wide) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    if (wide) { button.className = "softkey__wide"; }
    button.addEventListener("click", onPress);
    return button;
  }

  function buildKeyboard(input) {
    var board = document.createElement("div");
    board.className = "softkey";
    board.setAttribute("role", "group");
    board.setAttribute("aria-label", "ソフトウェアキーボード");
    var upper = false;
    function render() {
      board.textContent = "";
      var letters = upper ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ" : "abcdefghijklmnopqrstuvwxyz";
      shuffled("0123456789").concat(shuffled(letters)).forEach(function (ch) {
        board.appendChild(key(ch, function () { input.value += ch; input.dispatchEvent(new Event("input")); }));
      });
      board.appendChild(key(upper ? "小文字" : "大文字", function () { upper = !upper; render(); }, true));
      board.appendChild(key("1文字削除", function () { input.value = input.value.slice(0, -1); }, true));
      board.appendChild(key("閉じる", function () { board.hidden = true; input.focus(); }, true));
    }
    render();
    return board;
  }

  document.querySelectorAll("[data-softkey-for]").forEach(function (toggle) {
    var input = document.getElementById(toggle.getAttribute("data-softkey-for"));
    if (!input) { return; }
    toggle.hidden = false;
    var board = null;
    toggle.setAttribute("aria-expanded", "false");
    toggle.addEventListener("click", function () {
      if (!board) {
        board = buildKeyboard(input);
        toggle.parentNode.insertBefore(board, toggle.nextSibling);
      } else {
        board.hidden = !board.hidden;
      }
      toggle.setAttribute("aria-expanded", String(!board.hidden));
    });
  });

  // The demo token page: refresh the codes every second from its JSON twin.
  var table = document.querySelector("[data-demo-source]");
  if (table) {
    var source = table.getAttribute("data-demo-source");
    var refresh = function () {
      fetch(source, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          data.tokens.forEach(function (t) {
            var row = table.querySelector('tr[data-token="' + t.token_id + '"]');
            if (row) {
              row.querySelector(".token-code").textContent = t.code;
              row.querySelector(".token-left").textContent = t.seconds_left;
            }
          });
        })
        .catch(function () {});
    };
    window.setInterval(refresh, 1000);
  }
})();
