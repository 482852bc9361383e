package org.imgconf.hapitarget;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Import;

/**
 * A plain HAPI FHIR JPA server for FHIR R4, with HAPI's own default settings and an in-memory H2 database.
 *
 * <p>It exists so that imgconf's suites meet a widely deployed FHIR server that nobody on this project wrote.
 * Nothing here changes how HAPI searches, validates or answers: this class only wires HAPI's own Spring
 * configuration (JPA R4, batch jobs) into a Spring Boot application. Base URL: http://127.0.0.1:PORT/fhir.
 *
 * <p>Usage: {@code java -jar imgconf-hapi-target.jar [PORT]} (or env IMGCONF_HAPI_PORT; default 8080).
 */
@SpringBootApplication
@Import({JpaR4Config.class, HapiJpaConfig.class, ThreadPoolFactoryConfig.class, JpaBatch2Config.class, Batch2JobsConfig.class,
	// the in-process message broker HAPI's batch jobs run on
	SubscriptionChannelConfig.class})
public class HapiTargetApplication {

	public static void main(String[] args) {
		String port = args.length > 0 ? args[0] : System.getenv().getOrDefault("IMGCONF_HAPI_PORT", "8080");
		SpringApplication application = new SpringApplication(HapiTargetApplication.class);
		// loopback only: the harness and the user's browser are the only clients
		application.setDefaultProperties(java.util.Map.of("server.port", port, "server.address", "127.0.0.1"));
		application.run(args.length > 0 ? java.util.Arrays.copyOfRange(args, 1, args.length) : args);
	}
}
