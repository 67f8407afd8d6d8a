//! HTML the simulator serves: Goofish's pages in the shapes protocol.md describes, and the
//! phone's pages a person clicks in a browser.

use serde_json::json;
use url::Url;

/// What an anti-bot edge or an error page looks like to a JSON client.
pub const BLOCK_PAGE: &str = "<!DOCTYPE html><html><head><title>访问被拒绝</title></head><body><h1>很抱歉，您的访问被拒绝</h1><p>Tengine</p></body></html>";

pub const WWW_HOME: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>闲鱼 - 闲不住？上闲鱼！</title></head><body><div id=\"root\"></div></body></html>";

pub const WWW_IM: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>闲鱼 - 消息</title></head><body><div id=\"im\"></div></body></html>";

/// `mini_login.htm` (§3.2): `window.viewConfig`, `window.viewData`, `window._lang` in one
/// inline script. One-line minified JSON without `};` by default; pretty-printed with `};`
/// inside a string when asked.
pub fn mini_login(base: &Url, csrf: &str, hsiz: &str, pretty: bool) -> String {
    let config = json!({
        "api": {
            "getQRCodeApi": "/newlogin/qrcode/generate.do?appName=xianyu&fromSite=77",
            "checkQRCodeApi": "/newlogin/qrcode/query.do?appName=xianyu&fromSite=77",
            "hasLoginApi": "/newlogin/hasLogin.do?appName=xianyu&fromSite=77",
            "loginApi": "/newlogin/login.do?appName=xianyu&fromSite=77"
        },
        "defaultView": "qrcode",
        "loginTypes": [{"type": "password"}, {"type": "qrcode"}],
        "rsaExponent": "10001"
    });
    let mut data = json!({
        "appName": "xianyu",
        "umidToken": "T2gAsimulatorUmidToken=",
        "loginFormData": {
            "appName": "xianyu",
            "appEntrance": "web",
            "_csrf_token": csrf,
            "umidToken": "T2gAsimulatorUmidToken=",
            "hsiz": hsiz,
            "bizParams": format!("taobaoBizLoginFrom=web&renderRefer={}", url::form_urlencoded::byte_serialize(base.as_str().as_bytes()).collect::<String>()),
            "mainPage": false,
            "isMobile": false,
            "lang": "zh_CN",
            "returnUrl": "",
            "fromSite": 77
        }
    });
    let body = if pretty {
        data["tips"] = json!("扫码登录};请勿关闭页面");
        serde_json::to_string_pretty(&data).unwrap_or_default()
    } else {
        data.to_string()
    };
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>登录</title></head>\n<body class=\"xianyu lang-zh_CN pc\">\n<div id=\"login\"></div>\n<script>\nwindow.viewConfig = {config};\nwindow.viewData = {body};\nwindow._lang = \"zh_CN\";\n</script></body></html>\n"
    )
}

/// `/iv/normal_validate.htm`: the htoken and a JS redirect to verify_modes (§6 step 1).
pub fn normal_validate(htoken: &str, host: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>身份验证</title></head><body>\n<input type=\"hidden\" name=\"htoken\" value=\"{htoken}\">\n<script>window._iv_umidfg = 1;\nwindow.location.href = \"//{host}/iv/mini/verify_modes.htm?htoken={htoken}&_umidfg=\" + window._iv_umidfg;</script></body></html>\n"
    )
}

/// `/iv/mini/identity_verify.htm`: the second QR in `new Qrcode({ text: "…" })` with
/// JS-escaped slashes and HTML entities (§6 step 2).
pub fn identity_verify(qr_text: &str) -> String {
    let escaped = qr_text.replace('/', "\\/").replace('&', "&amp;");
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>刷脸验证</title></head><body>\n<div id=\"qrcode\"></div><p>请使用闲鱼App扫码完成刷脸验证</p>\n<script>new Qrcode({{ el: document.getElementById(\"qrcode\"), text: \"{escaped}\", size: 180 }});</script></body></html>\n"
    )
}

fn phone_shell(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>\
<style>body{{font-family:sans-serif;max-width:28em;margin:2em auto;padding:0 1em}}button{{font-size:1.2em;margin:.3em;padding:.5em 1em}}#s{{margin-top:1em;color:#555}}</style></head>\
<body><h1>{title}</h1>{body}<div id=\"s\"></div><script>\
async function call(a,b){{const r=await fetch('/__sim/phone/'+a,{{method:'POST',headers:{{'Content-Type':'application/json'}},body:JSON.stringify(b)}});const j=await r.json();document.getElementById('s').textContent=a+': '+JSON.stringify(j);return j;}}\
{script}</script></body></html>"
    )
}

/// The page the login QR opens: the simulated 闲鱼 app. Scan returns a one-time
/// temporary token that Confirm presents.
pub fn phone(lg_token: &str) -> String {
    let lg = serde_json::to_string(lg_token).unwrap_or_else(|_| "\"latest\"".into());
    phone_shell(
        "闲鱼 (simulated phone)",
        "<p>This page stands in for the 闲鱼 app that scanned the QR code.</p>\
<button id=\"scan\">Scan</button><button id=\"confirm\">Confirm login</button><button id=\"cancel\">Cancel</button>",
        &format!(
            "let lg={lg};let tmp='';\
document.getElementById('scan').onclick=async()=>{{const j=await call('scan',{{lgToken:lg}});if(j.tmpToken){{tmp=j.tmpToken;lg=j.lgToken;}}}};\
document.getElementById('confirm').onclick=()=>call('confirm',{{lgToken:lg,tmpToken:tmp}});\
document.getElementById('cancel').onclick=()=>call('cancel',{{lgToken:lg}});"
        ),
    )
}

/// The page the verification QR opens: pass the simulated face check.
pub fn verify_phone(htoken: &str) -> String {
    let h = serde_json::to_string(htoken).unwrap_or_else(|_| "\"latest\"".into());
    phone_shell(
        "闲鱼 刷脸验证 (simulated)",
        "<p>This page stands in for the face verification on the phone.</p><button id=\"pass\">Pass face verification</button>",
        &format!("document.getElementById('pass').onclick=()=>call('verify',{{htoken:{h}}});"),
    )
}
