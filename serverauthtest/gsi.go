package serverauthtest

import (
	"io"
	"net/http"
	"strings"
)

// handleGSIClient serves the stand-in for Google Identity Services'
// https://accounts.google.com/gsi/client: a page written for Google works
// against the fake once its script tag points here. See the package
// documentation for what it implements.
func (g *Google) handleGSIClient(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// The script is loaded cross-origin by the app's page.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	io.WriteString(w, strings.Replace(gsiClientJS, "__FAKE_BASE__", jsonString(baseURL(r)), 1))
}

// gsiClientJS is the stand-in script. It finds the fake's origin from its
// own src (the page may load it from any of the fake's addresses), and
// falls back to the address it was fetched at.
const gsiClientJS = `/* serverauthtest: a stand-in for Google Identity Services (accounts.google.com/gsi/client).
 * It talks to the fake Google that served it and never to Google. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = __FAKE_BASE__;
  try { if (script && script.src) { base = new URL(script.src).origin; } } catch (e) {}

  var google = window.google = window.google || {};
  google.accounts = google.accounts || {};

  function randomToken() {
    var b = new Uint8Array(24);
    window.crypto.getRandomValues(b);
    var s = "";
    for (var i = 0; i < b.length; i++) { s += ("0" + b[i].toString(16)).slice(-2); }
    return s;
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== undefined && v !== null && v !== "") {
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(String(v)));
      }
    });
    return parts.join("&");
  }

  function openPopup(url) {
    var w = 500, h = 640;
    var left = (window.screenX || 0) + Math.max(0, ((window.outerWidth || w) - w) / 2);
    var top = (window.screenY || 0) + Math.max(0, ((window.outerHeight || h) - h) / 2);
    return window.open(url, "fakegoogle_signin", "popup=yes,width=" + w + ",height=" + h + ",left=" + left + ",top=" + top);
  }

  // awaitPopup calls onResult with the message the fake's popup posts (only
  // from the fake's origin and from that window), or onClosed when the
  // window closes without one.
  function awaitPopup(popup, kind, onResult, onClosed) {
    var finished = false;
    function finish() { finished = true; window.removeEventListener("message", listener); clearInterval(timer); }
    function listener(ev) {
      if (finished || ev.origin !== base || ev.source !== popup) { return; }
      var d = ev.data;
      if (!d || d.type !== "fakegoogle-gsi" || d.kind !== kind) { return; }
      finish();
      onResult(d.response || {});
    }
    window.addEventListener("message", listener);
    var timer = setInterval(function () {
      if (!finished && popup.closed) {
        clearInterval(timer);
        // A message posted just before the window closed may still be queued.
        setTimeout(function () { if (!finished) { finish(); onClosed(); } }, 300);
      }
    }, 250);
  }

  function reportError(cfg, type, message) {
    if (typeof cfg.error_callback === "function") {
      cfg.error_callback({type: type, message: message});
    } else if (window.console) {
      console.error("[fake GSI] " + type + ": " + message);
    }
  }

  // google.accounts.oauth2: the code model.
  function initCodeClient(config) {
    if (!config || !config.client_id) { throw new Error("Missing required parameter client_id."); }
    if (!config.scope) { throw new Error("Missing required parameter scope."); }
    var uxMode = config.ux_mode || "popup";
    if (uxMode !== "popup" && uxMode !== "redirect") { throw new Error("Invalid ux_mode: " + uxMode); }
    var cfg = Object.assign({}, config);
    return {
      requestCode: function (overrides) {
        var c = Object.assign({}, cfg, overrides || {});
        var params = {
          client_id: c.client_id,
          scope: Array.isArray(c.scope) ? c.scope.join(" ") : c.scope,
          response_type: "code",
          access_type: "offline",
          include_granted_scopes: c.include_granted_scopes === false ? "false" : "true",
          state: c.state,
          login_hint: c.login_hint || c.hint,
          hd: c.hd || c.hosted_domain,
          prompt: c.select_account ? "select_account" : c.prompt,
          gsiwebsdk: "fake"
        };
        if (uxMode === "redirect") {
          params.redirect_uri = c.redirect_uri || (location.origin + location.pathname);
          location.assign(base + "/o/oauth2/v2/auth?" + query(params));
          return;
        }
        params.redirect_uri = "postmessage";
        params.origin = location.origin;
        var popup = openPopup(base + "/o/oauth2/v2/auth?" + query(params));
        if (!popup) { reportError(c, "popup_failed_to_open", "Failed to open popup window"); return; }
        awaitPopup(popup, "code", function (resp) {
          if (typeof c.callback === "function") { c.callback(resp); }
        }, function () {
          reportError(c, "popup_closed", "Popup window closed");
        });
      }
    };
  }

  function grantedScopes(resp) { return String((resp && resp.scope) || "").split(" ").filter(Boolean); }

  google.accounts.oauth2 = {
    initCodeClient: initCodeClient,
    initTokenClient: function () {
      throw new Error("fake GSI: initTokenClient (the implicit token model) is not implemented; use initCodeClient");
    },
    hasGrantedAllScopes: function (resp) {
      var got = grantedScopes(resp), want = Array.prototype.slice.call(arguments, 1);
      return want.every(function (s) { return got.indexOf(s) >= 0; });
    },
    hasGrantedAnyScope: function (resp) {
      var got = grantedScopes(resp), want = Array.prototype.slice.call(arguments, 1);
      return want.some(function (s) { return got.indexOf(s) >= 0; });
    },
    revoke: function (token, done) {
      // The fake's revocation endpoint, as GIS calls Google's.
      fetch(base + "/revoke", {method: "POST", body: new URLSearchParams({token: token})})
        .then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); })
        .then(function (x) { if (done) { done(x.ok ? {successful: true} : {successful: false, error: x.body.error, error_description: x.body.error_description}); } },
              function (e) { if (done) { done({successful: false, error: String(e)}); } });
    }
  };

  // google.accounts.id: Sign in with Google.
  var idConfig = null;
  var card = null;

  function notification(type, reason) {
    return {
      getMomentType: function () { return type; },
      isDisplayMoment: function () { return type === "display"; },
      isDisplayed: function () { return type === "display" && !reason; },
      isNotDisplayed: function () { return type === "display" && !!reason; },
      getNotDisplayedReason: function () { return type === "display" ? reason : undefined; },
      isSkippedMoment: function () { return type === "skipped"; },
      getSkippedReason: function () { return type === "skipped" ? reason : undefined; },
      isDismissedMoment: function () { return type === "dismissed"; },
      getDismissedReason: function () { return type === "dismissed" ? reason : undefined; }
    };
  }

  // postCredential does what Google does for a login_uri: a form POST of
  // credential and g_csrf_token, with the same g_csrf_token in a cookie of
  // the app's site for the server to compare.
  function postCredential(loginURI, credential) {
    var token = randomToken();
    setCSRFCookie(token);
    var form = document.createElement("form");
    form.method = "POST";
    form.action = loginURI;
    form.enctype = "application/x-www-form-urlencoded";
    form.style.display = "none";
    [["credential", credential], ["g_csrf_token", token]].forEach(function (f) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = f[0];
      input.value = f[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function setCSRFCookie(token) {
    document.cookie = "g_csrf_token=" + token + "; path=/" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function signIn(selectBy) {
    var c = idConfig;
    if (!c) { throw new Error("fake GSI: call google.accounts.id.initialize first"); }
    var redirect = c.ux_mode === "redirect";
    var loginURI = c.login_uri || (redirect ? location.origin + location.pathname : "");
    var params = {
      client_id: c.client_id,
      origin: location.origin,
      nonce: c.nonce,
      login_hint: c.login_hint,
      login_uri: loginURI,
      ux_mode: redirect ? "redirect" : "popup",
      context: c.context
    };
    if (redirect) {
      params.g_csrf_token = randomToken();
      setCSRFCookie(params.g_csrf_token);
      location.assign(base + "/gsi/select?" + query(params));
      return;
    }
    var popup = openPopup(base + "/gsi/select?" + query(params));
    if (!popup) { if (window.console) { console.error("[fake GSI] popup_failed_to_open"); } return; }
    awaitPopup(popup, "id", function (resp) {
      if (resp.error) { return; }
      removeCard();
      resp.select_by = selectBy;
      if (typeof c.callback === "function") {
        c.callback(resp);
      } else if (loginURI) {
        postCredential(loginURI, resp.credential);
      } else if (window.console) {
        console.error("[fake GSI] initialize needs a callback or a login_uri");
      }
    }, function () {});
  }

  function removeCard() { if (card && card.parentNode) { card.parentNode.removeChild(card); } card = null; }

  function styleButton(b, theme) {
    var s = b.style;
    s.display = "inline-flex"; s.alignItems = "center"; s.gap = "10px";
    s.font = "500 14px Roboto, Arial, sans-serif"; s.height = "40px"; s.padding = "0 12px";
    s.borderRadius = "4px"; s.cursor = "pointer";
    if (theme === "filled_blue") {
      s.background = "#1a73e8"; s.color = "#fff"; s.border = "1px solid #1a73e8";
    } else if (theme === "filled_black") {
      s.background = "#202124"; s.color = "#fff"; s.border = "1px solid #202124";
    } else {
      s.background = "#fff"; s.color = "#3c4043"; s.border = "1px solid #dadce0";
    }
  }

  var buttonTexts = {
    signin_with: "Sign in with Google", signup_with: "Sign up with Google",
    continue_with: "Continue with Google", signin: "Sign in"
  };

  google.accounts.id = {
    initialize: function (config) {
      if (!config || !config.client_id) { throw new Error("Missing required parameter client_id."); }
      idConfig = Object.assign({}, config);
    },
    renderButton: function (parent, options) {
      if (!parent) { throw new Error("fake GSI: renderButton needs a parent element"); }
      var o = options || {};
      var b = document.createElement("button");
      b.type = "button";
      b.className = "fakegoogle-gsi-button";
      b.setAttribute("data-fakegoogle", "signin");
      var g = document.createElement("span");
      g.textContent = "G";
      g.style.fontWeight = "700"; g.style.color = o.theme && o.theme !== "outline" ? "#fff" : "#4285f4";
      b.appendChild(g);
      b.appendChild(document.createTextNode(buttonTexts[o.text] || buttonTexts.signin_with));
      styleButton(b, o.theme);
      if (o.width) { b.style.width = (parseInt(o.width, 10) || 0) + "px"; b.style.justifyContent = "center"; }
      b.addEventListener("click", function () {
        if (typeof o.click_listener === "function") { o.click_listener(); }
        signIn("btn");
      });
      parent.innerHTML = "";
      parent.appendChild(b);
    },
    prompt: function (listener) {
      var notify = typeof listener === "function" ? listener : function () {};
      if (!idConfig) { throw new Error("fake GSI: call google.accounts.id.initialize first"); }
      if (!document.body) { notify(notification("display", "unknown_reason")); return; }
      removeCard();
      // A One Tap stand-in: a card whose button opens the chooser (a popup
      // needs the user's click).
      card = document.createElement("div");
      card.setAttribute("data-fakegoogle", "one-tap");
      var s = card.style;
      s.position = "fixed"; s.top = "16px"; s.right = "16px"; s.zIndex = "2147483647";
      s.background = "#fff"; s.border = "1px solid #dadce0"; s.borderRadius = "8px";
      s.boxShadow = "0 2px 6px rgba(0,0,0,.2)"; s.padding = "16px"; s.font = "14px Roboto, Arial, sans-serif";
      var title = document.createElement("div");
      title.textContent = "Sign in to " + location.host + " with Google (fake)";
      title.style.marginBottom = "12px";
      var go = document.createElement("button");
      go.type = "button";
      go.textContent = "Continue with Google";
      styleButton(go, "filled_blue");
      go.addEventListener("click", function () { signIn("user_1tap"); });
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      styleButton(close, "outline");
      close.style.marginLeft = "8px";
      close.addEventListener("click", function () {
        removeCard();
        notify(notification("skipped", "user_cancel"));
        if (idConfig && typeof idConfig.intermediate_iframe_close_callback === "function") { idConfig.intermediate_iframe_close_callback(); }
      });
      card.appendChild(title); card.appendChild(go); card.appendChild(close);
      document.body.appendChild(card);
      notify(notification("display", ""));
    },
    cancel: function () { removeCard(); },
    disableAutoSelect: function () {},
    storeCredential: function (cred, done) { if (done) { done(); } },
    revoke: function (hint, done) { if (done) { done({successful: true}); } }
  };

  // The HTML API: <div id="g_id_onload" data-client_id=… data-login_uri=…>
  // and <div class="g_id_signin">.
  function htmlAPI() {
    var onload = document.getElementById("g_id_onload");
    if (onload) {
      var d = onload.dataset, cfg = {};
      Object.keys(d).forEach(function (k) { cfg[k] = d[k]; });
      if (d.callback) { cfg.callback = window[d.callback]; }
      google.accounts.id.initialize(cfg);
      var buttons = document.getElementsByClassName("g_id_signin");
      for (var i = 0; i < buttons.length; i++) {
        var o = {}, bd = buttons[i].dataset;
        Object.keys(bd).forEach(function (k) { o[k] = bd[k]; });
        google.accounts.id.renderButton(buttons[i], o);
      }
      if (d.auto_prompt !== "false" && buttons.length === 0) { google.accounts.id.prompt(); }
    }
    if (typeof window.onGoogleLibraryLoad === "function") { window.onGoogleLibraryLoad(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", htmlAPI);
  } else {
    htmlAPI();
  }
})();
`
