// The java21 base's probe, compiled in the test with the JDK builder image: prints how many
// issuers the default TrustManagerFactory trusts, then fetches each URL given and prints
// its status and body (so a TLS handshake against the JVM's own trust store is exercised).
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class Probe {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory factory =
                TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        int issuers = 0;
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509TrustManager) {
                issuers += ((X509TrustManager) manager).getAcceptedIssuers().length;
            }
        }
        System.out.println("issuers " + issuers);
        for (String url : args) {
            HttpsURLConnection conn = (HttpsURLConnection) new URI(url).toURL().openConnection();
            try (InputStream in = conn.getInputStream()) {
                String body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                System.out.println("status " + conn.getResponseCode() + " " + body);
            }
        }
    }
}
